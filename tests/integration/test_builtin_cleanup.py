"""cleanup jobs: old finished jobs in moto's DynamoDB and old objects in moto's S3, bounded and resumable."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack, assert_error

DAY_S = 24 * 3600


def run_cleanup(stack: Stack, tok: str, **config: Any) -> Any:
    job = stack.schedule(tok, type="cleanup", payload=config, maxRetries=0)
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    return done


def finished_jobs(stack: Stack, tok: str, count: int, **fields: Any) -> list[str]:
    ids = [stack.schedule(tok, payload={"count": 1}, **fields)["id"] for _ in range(count)]
    stack.poller.drain()
    assert all(stack.job(job_id).status == JobStatus.COMPLETED for job_id in ids)
    return ids


def test_old_finished_jobs_go_and_newer_ones_and_other_stores_stay(clocked_stack: Stack, admin: str) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    old = finished_jobs(stack, admin, 3)
    old_other_store = finished_jobs(stack, admin, 2, storeId="store-b")
    clock.advance(31 * DAY_S)
    recent = finished_jobs(stack, admin, 2)

    done = run_cleanup(stack, admin, older_than_days=30, store_id="store-a")
    assert done.result["jobs_deleted"] == {"completed": 3, "cancelled": 0, "failed": 0}
    assert done.result["complete"] is True
    assert [stack.job(i) for i in old] == [None, None, None]
    assert all(stack.job(i) is not None for i in [*old_other_store, *recent, done.id])


def test_a_run_is_bounded_and_the_next_run_goes_on_where_it_stopped(clocked_stack: Stack, admin: str) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    old = finished_jobs(stack, admin, 5)
    clock.advance(40 * DAY_S)
    first = run_cleanup(stack, admin, statuses=["completed"], max_deletions=3)
    assert first.result["jobs_deleted"] == {"completed": 3} and first.result["complete"] is False
    second = run_cleanup(stack, admin, statuses=["completed"], max_deletions=3)
    assert second.result["jobs_deleted"] == {"completed": 2} and second.result["complete"] is True
    assert all(stack.job(i) is None for i in old)


def test_a_dry_run_reports_without_removing(clocked_stack: Stack, admin: str) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    old = finished_jobs(stack, admin, 2)
    clock.advance(40 * DAY_S)
    done = run_cleanup(stack, admin, statuses=["completed"], dry_run=True)
    assert done.result["jobs_deleted"] == {"completed": 2} and done.result["dry_run"] is True
    assert all(stack.job(i) is not None for i in old)


@pytest.fixture
def bucket(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    s3 = stack.session.client("s3")
    s3.create_bucket(Bucket="shop-exports")
    stack.configure(monkeypatch, cleanup_bucket="shop-exports")
    for index in range(7):
        s3.put_object(Bucket="shop-exports", Key=f"tmp/export-{index}.csv", Body=b"x" * 10)
    s3.put_object(Bucket="shop-exports", Key="keep/report.csv", Body=b"y")
    return s3


def keys(s3: Any) -> list[str]:
    return [entry["Key"] for entry in s3.list_objects_v2(Bucket="shop-exports").get("Contents", [])]


def test_old_objects_go_in_bounded_runs_resumed_across_cron_runs(stack: Stack, admin: str, bucket: Any) -> None:
    # Objects were written "now" by moto's real clock; older_than_days 0 makes them all old.
    body = {
        "name": "tmp cleanup",
        "cron_expression": "0 4 * * *",
        "job_type": "cleanup",
        "configuration": {"statuses": [], "s3": {"prefix": "tmp/", "older_than_days": 0}, "max_deletions": 3},
        "store_id": "store-a",
    }
    cron_id = stack.post("/api/cron-jobs", body, admin).json_body["job"]["id"]
    results = []
    for _ in range(3):
        run = stack.post(f"/api/cron-jobs/{cron_id}/run", {}, admin).json_body["execution"]
        stack.poller.drain()
        results.append(stack.job(run["id"]).result)
    assert [r["s3_deleted"] for r in results] == [3, 3, 1]
    assert results[0]["s3_resume_after"] == "tmp/export-2.csv" and results[2]["s3_resume_after"] is None
    assert results[2]["complete"] is True and results[0]["s3_bytes"] == 30
    assert keys(bucket) == ["keep/report.csv"]


def test_objects_newer_than_the_cutoff_stay(stack: Stack, admin: str, bucket: Any) -> None:
    done = run_cleanup(stack, admin, statuses=[], s3={"prefix": "tmp/", "older_than_days": 1})
    assert done.result["s3_deleted"] == 0 and done.result["s3_listed"] == 7 and done.result["complete"] is True
    assert len(keys(bucket)) == 8


def test_cleanup_is_admin_only(stack: Stack, owner_a: str) -> None:
    job = {"type": "cleanup", "storeId": "store-a", "payload": {}}
    assert_error(stack.post("/api/background-jobs/schedule", job, owner_a), 403, "admin_only_type")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"statuses": ["running"]}, "only finished statuses"),
        ({"older_than_days": 0}, "greater than or equal to 1"),
        ({"max_deletions": 100_000}, "less than or equal to 10000"),
        ({"s3": {"prefix": ""}}, "at least 1 character"),
    ],
)
def test_bad_cleanup_configurations_are_a_400(stack: Stack, admin: str, config: dict[str, Any], fragment: str) -> None:
    response = stack.post(
        "/api/background-jobs/schedule", {"type": "cleanup", "storeId": "s", "payload": config}, admin
    )
    assert fragment in str(assert_error(response, 400, "validation_error")["details"])


def test_a_missing_bucket_fails_the_run_naming_the_setting(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="cleanup", payload={"statuses": [], "s3": {"prefix": "tmp/"}}, maxRetries=2)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert "TICKWORK_CLEANUP_BUCKET" in (failed.error or "")
