"""A job's large values live in S3 and its log lines in an item of their own: the job's item,
rewritten at every state change, stays small whatever the job carries (docs/architecture.md)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.errors import StaleWriteError
from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.logs import logs_item_id
from chalicelib.jobs.model import Job, ValuesNotLoadedError
from chalicelib.jobs.store import DynamoJobStore
from chalicelib.jobs.values import MAX_RESULT_BYTES
from tests.conftest import Stack
from tests.kit import bare_store, item_bytes

NOW = "2026-11-28T12:00:00.000000Z"
LATER = "2026-11-28T12:00:30.000000Z"
BIG = {"blob": "x" * 200_000}


def raw_item(stack: Stack, item_id: str) -> dict[str, Any] | None:
    return stack.runtime.store._table.get_item(Key={"id": item_id}, ConsistentRead=True).get("Item")


def objects(stack: Stack, job_id: str) -> list[str]:
    s3 = stack.session.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.runtime.settings.values_bucket, Prefix=f"jobs/{job_id}/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_a_200_kb_payload_lives_in_s3_and_every_view_shows_it(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:chatty", payload=BIG)
    assert job["payload"] == BIG
    item = raw_item(stack, job["id"])
    assert item is not None and "payload" not in item and item["payload_ref"] in objects(stack, job["id"])
    assert item_bytes(item) < 2048

    stack.poller.drain()
    done = raw_item(stack, job["id"])
    assert done is not None and done["status"] == "completed" and item_bytes(done) < 2048
    # The handler was given the whole payload.
    assert json.loads(done["result"]) == {"payload_bytes": len(json.dumps(BIG, separators=(",", ":")))}
    for path in (f"/api/background-jobs/{job['id']}/status", f"/api/background-jobs/{job['id']}"):
        assert stack.get(path, admin).json_body["job"]["payload"] == BIG
    listed = stack.get("/api/background-jobs?store_id=store-a", admin).json_body["jobs"]
    assert [shown["payload"] for shown in listed] == [BIG]


def test_a_small_payload_stays_in_the_item(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:chatty", payload={"lines": 0})
    item = raw_item(stack, job["id"])
    assert item is not None and json.loads(item["payload"]) == {"lines": 0} and "payload_ref" not in item
    assert objects(stack, job["id"]) == []


def test_a_megabyte_result_is_kept_and_shown(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:hooked", payload={"result_bytes": 1_000_000})
    stack.poller.drain()
    item = raw_item(stack, job["id"])
    assert item is not None and item["status"] == "completed" and "result_ref" in item
    shown = stack.get(f"/api/background-jobs/{job['id']}/status", admin).json_body["job"]
    assert shown["result"] == {"done": True, "blob": "r" * 1_000_000}


def test_a_result_over_the_limit_fails_the_job_naming_the_limit(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:hooked", payload={"result_bytes": MAX_RESULT_BYTES}, maxRetries=3)
    stack.poller.drain()
    failed = stack.job(job["id"])
    size = len(json.dumps({"done": True, "blob": "r" * MAX_RESULT_BYTES}, separators=(",", ":")))
    assert failed.status == JobStatus.FAILED and failed.result is None
    assert failed.attempts == 1  # a retry would return as much again
    assert failed.error.startswith(f"result is {size} bytes; a job keeps at most {MAX_RESULT_BYTES} bytes of result")
    assert any(failed.error in line for line in failed.logs)


def test_log_lines_live_apart_and_carry_over_a_retry(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:chatty", payload={"lines": 3, "failures": 1}, maxRetries=2)
    stack.poller.drain()
    stack.poller.drain()
    item = raw_item(stack, job["id"])
    assert item is not None and item["status"] == "completed" and "logs" not in item
    lines = stack.get(f"/api/background-jobs/{job['id']}", admin).json_body["job"]["logs"]
    said = [line.split(" ", 1)[1] for line in lines]
    assert said == [
        "attempt 1 line 0",
        "attempt 1 line 1",
        "attempt 1 line 2",
        "attempt 1 failed: RuntimeError: planned failure 1",
        "attempt 2 line 0",
        "attempt 2 line 1",
        "attempt 2 line 2",
    ]
    assert int(item["log_lines"]) == len(lines)
    assert raw_item(stack, logs_item_id(job["id"])) is not None


def test_a_silent_job_writes_no_log_item(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:chatty", payload={})
    stack.poller.drain()
    assert raw_item(stack, logs_item_id(job["id"])) is None
    assert stack.get(f"/api/background-jobs/{job['id']}", admin).json_body["job"]["logs"] == []


@pytest.fixture
def store() -> Any:
    with mock_aws():
        yield bare_store()


def new_job(job_id: str, **fields: Any) -> Job:
    return Job(
        id=job_id,
        type="plugin:t:x",
        priority=Priority.NORMAL,
        status=JobStatus.PENDING,
        store_id="s1",
        created_at=NOW,
        updated_at=NOW,
        scheduled_at=NOW,
        **fields,
    )


def test_a_stale_attempt_cannot_overwrite_a_later_attempts_lines(store: DynamoJobStore) -> None:
    store.logs.write("j1", ["a1"], epoch=2, lease_token="a", sequence=1, now=NOW)
    store.logs.write("j1", ["a1", "b1"], epoch=5, lease_token="b", sequence=1, now=NOW)
    with pytest.raises(StaleWriteError):
        store.logs.write("j1", ["a1", "a2"], epoch=2, lease_token="a", sequence=2, now=NOW)
    # A flush of the same attempt that lost the race to a later one of its own is simply superseded.
    store.logs.write("j1", ["a1", "b1", "b2"], epoch=5, lease_token="b", sequence=3, now=NOW)
    store.logs.write("j1", ["a1", "b1", "b2-early"], epoch=5, lease_token="b", sequence=2, now=NOW)
    assert store.logs.read("j1") == ["a1", "b1", "b2"]


def test_a_large_checkpoint_goes_to_s3_and_a_completion_drops_it(store: DynamoJobStore) -> None:
    state = {"next": 7, "seen": "s" * 50_000}
    store.create(new_job("j1"))
    store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    store.suspend("j1", lease_token="a", now=NOW, checkpoint=state)
    read = store.get("j1")
    assert read is not None and read.checkpoint is None and read.checkpoint_ref is not None
    assert read.unloaded_values() == ["checkpoint"]
    assert store.values.load([read])[0].checkpoint == state
    claimed = store.claim_due("j1", lease_token="b", now=LATER, lease_until=LATER, due_by=LATER)
    done = store.finish("j1", lease_token="b", status=JobStatus.COMPLETED, now=LATER, latest=claimed)
    assert done.checkpoint_ref is None and store.get("j1").checkpoint_ref is None  # type: ignore[union-attr]


def test_deleting_a_finished_job_deletes_its_lines_and_objects(store: DynamoJobStore) -> None:
    from chalicelib.jobs.finished import FinishedJobs

    store.create(new_job("j1", payload=BIG))
    claimed = store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    store.logs.write("j1", ["one"], epoch=claimed.version, lease_token="a", sequence=1, now=NOW)
    store.finish("j1", lease_token="a", status=JobStatus.COMPLETED, now=LATER, log_lines=1, result=BIG)
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=store.values._objects.bucket, Prefix="jobs/j1/")["KeyCount"] == 2
    finished = FinishedJobs(store._table, store)
    [found] = finished.older_than(JobStatus.COMPLETED, "2026-11-29T00:00:00.000000Z", limit=10)
    assert finished.delete(found, JobStatus.COMPLETED)
    assert store.get("j1") is None and store.logs.read("j1") == []
    assert s3.list_objects_v2(Bucket=store.values._objects.bucket, Prefix="jobs/j1/")["KeyCount"] == 0


def test_a_job_whose_values_were_not_read_back_refuses_to_be_shown(store: DynamoJobStore) -> None:
    store.create(new_job("j1", payload=BIG))
    read = store.get("j1")
    assert read is not None and read.payload == {}
    with pytest.raises(ValuesNotLoadedError):
        read.to_public()
    assert store.shown([read])[0].to_public()["payload"] == BIG


def test_an_item_with_its_lines_inline_still_shows_them(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    store._table.update_item(
        Key={"id": "j1"}, UpdateExpression="SET logs = :l", ExpressionAttributeValues={":l": ["old"]}
    )
    read = store.get("j1")
    assert read is not None and read.logs_loaded
    assert store.shown([read], with_logs=True)[0].to_public(with_logs=True)["logs"] == ["old"]


def test_a_plugin_reading_a_job_in_process_gets_its_large_values(stack: Stack, admin: str) -> None:
    from chalicelib import runtime

    job = stack.schedule(admin, type="plugin:test-kit:hooked", payload={**BIG, "result_bytes": 2_000})
    stack.poller.drain()
    read = runtime.job_manager.get_job(job["id"])
    assert read.payload["blob"] == BIG["blob"] and read.result == {"done": True, "blob": "r" * 2_000}
