"""Batches: create (all or nothing), read with aggregate progress, list children, cancel, callbacks once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.batches.model import unfinished_key
from chalicelib.batches.service import SETTLE_AFTER_S
from chalicelib.clock import ManualClock, to_iso
from chalicelib.config import Settings
from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import T0, Stack, assert_error, built_stack, token
from tests.handlers import completions
from tests.kit import sqs_follows

OWNER = token("store_owner", stores=["store-a"])
FLAKY = "plugin:test-kit:flaky"


def child(failures: int = 0, **fields: Any) -> dict[str, Any]:
    return {"type": FLAKY, "payload": {"failures": failures}, "max_retries": 0, **fields}


def create(stack: Stack, body: dict[str, Any], tok: str = OWNER) -> Any:
    return stack.post("/api/background-jobs/batches", {"store_id": "store-a", **body}, tok)


def callbacks(stack: Stack, batch_id: str) -> list[dict[str, Any]]:
    listed = stack.get("/api/background-jobs?store_id=store-a&limit=100", OWNER).json_body["jobs"]
    return [job for job in listed if job["metadata"].get("callback_of") == batch_id]


def test_a_batch_runs_its_children_and_its_callbacks_once(stack: Stack) -> None:
    answer = create(
        stack,
        {
            "jobs": [child() for _ in range(30)],
            "on_complete": {"type": FLAKY, "payload": {"note": "all done"}},
            "on_success": {"type": FLAKY, "payload": {}},
            "description": "thirty",
        },
    )
    assert answer.status_code == 201, answer.json_body
    batch = answer.json_body["batch"]
    assert (batch["status"], batch["total"], batch["pending"], batch["progress"]) == ("open", 30, 30, 0)
    listed = stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs?limit=20", OWNER).json_body
    assert len(listed["jobs"]) == 20 and listed["next_token"]
    assert all(job["batch_id"] == batch["id"] for job in listed["jobs"])
    filtered = stack.get(f"/api/background-jobs?store_id=store-a&batch_id={batch['id']}&limit=100", OWNER)
    assert len(filtered.json_body["jobs"]) == 30
    other = stack.get("/api/background-jobs?store_id=store-b&batch_id=" + batch["id"], token("admin")).json_body
    assert other["jobs"] == []  # the batch's children, within the store asked for
    # The sweep's keys of the same index hold batches, not jobs: listed, they are nothing.
    key = unfinished_key(batch["id"]).replace("#", "%23")
    unfinished = stack.get(f"/api/background-jobs?batch_id={key}", token("admin"))
    assert unfinished.status_code == 200 and unfinished.json_body["jobs"] == []
    rest = stack.get(
        f"/api/background-jobs/batches/{batch['id']}/jobs?limit=20&next_token={listed['next_token']}", OWNER
    ).json_body
    assert len(rest["jobs"]) == 10 and rest["next_token"] is None
    stack.poller.drain()
    stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
    assert (shown["status"], shown["completed"], shown["progress"], shown["pending"]) == ("succeeded", 30, 100, 0)
    ran = callbacks(stack, batch["id"])
    assert sorted(job["metadata"]["batch_callback"] for job in ran) == ["on_complete", "on_success"]
    for job in ran:
        assert job["status"] == "completed" and completions[job["id"]] == 1
        assert job["payload"]["batch"]["completed"] == 30 and job["payload"]["batch"]["status"] == "succeeded"


def test_a_failed_child_runs_on_complete_but_not_on_success(stack: Stack) -> None:
    body = {
        "jobs": [child(), child(failures=5), child()],
        "on_complete": {"type": FLAKY},
        "on_success": {"type": FLAKY},
    }
    batch = create(stack, body).json_body["batch"]
    stack.poller.drain()
    stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
    assert (shown["status"], shown["completed"], shown["failed"]) == ("finished", 2, 1)
    failed = stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs?status=failed", OWNER).json_body["jobs"]
    assert len(failed) == 1
    assert [job["metadata"]["batch_callback"] for job in callbacks(stack, batch["id"])] == ["on_complete"]


def test_one_bad_child_refuses_the_whole_batch_naming_its_index(stack: Stack) -> None:
    body = {"jobs": [child(), child(), {"type": "plugin:nobody:nothing"}]}
    error = assert_error(create(stack, body), 400, "unknown_job_type")
    assert "jobs[2]" in error["error"] and error["details"][0]["field"] == "jobs[2].type"
    other_store = assert_error(
        create(stack, {"jobs": [child(), child(store_id="store-b")]}), 400, "batch_store_mismatch"
    )
    assert other_store["details"][0]["field"] == "jobs[1].store_id"
    assert_error(create(stack, {"jobs": []}), 400, "validation_error")
    assert_error(create(stack, {"jobs": [child()] * 1001}), 400, "validation_error")
    reserved = {"jobs": [child()], "on_complete": {"type": FLAKY, "payload": {"batch": 1}}}
    assert_error(create(stack, reserved), 400, "validation_error")
    listed = stack.get("/api/background-jobs?store_id=store-a", OWNER).json_body["jobs"]
    assert listed == []


def test_cancel_ends_what_has_not_finished_and_on_complete_runs(stack: Stack) -> None:
    batch = create(stack, {"jobs": [child() for _ in range(5)], "on_complete": {"type": FLAKY}}).json_body["batch"]
    first = stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs?limit=1", OWNER).json_body["jobs"][0]
    # Cancelling one child leaves its siblings alone.
    assert stack.post(f"/api/background-jobs/{first['id']}/cancel", {}, OWNER).status_code == 200
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
    assert (shown["cancelled"], shown["pending"], shown["status"]) == (1, 4, "open")
    cancelled = stack.post(f"/api/background-jobs/batches/{batch['id']}/cancel", {}, OWNER)
    assert cancelled.status_code == 200, cancelled.json_body
    assert (cancelled.json_body["batch"]["status"], cancelled.json_body["batch"]["cancelled"]) == ("finished", 5)
    stack.poller.drain()
    [callback] = callbacks(stack, batch["id"])
    assert callback["status"] == "completed" and callback["payload"]["batch"]["cancelled"] == 5


def test_a_repeated_idempotency_key_answers_the_first_batch(stack: Stack) -> None:
    body = {"jobs": [child()], "idempotency_key": "nightly-2026-11-30"}
    first = create(stack, body)
    again = create(stack, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json_body["batch"]["id"] == again.json_body["batch"]["id"]


def test_other_tenants_see_no_batch(stack: Stack) -> None:
    batch = create(stack, {"jobs": [child()]}).json_body["batch"]
    store_b = token("store_owner", stores=["store-b"])
    plugin = token("plugin", stores=["store-a"], plugin_id="other-plugin")
    for tok in (store_b, plugin):
        assert_error(stack.get(f"/api/background-jobs/batches/{batch['id']}", tok), 404, "batch_not_found")
        assert_error(stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs", tok), 404, "batch_not_found")
        assert_error(stack.post(f"/api/background-jobs/batches/{batch['id']}/cancel", {}, tok), 404, "batch_not_found")
    assert_error(stack.get("/api/background-jobs/batches/not-a-batch", OWNER), 404, "batch_not_found")


def test_a_child_of_a_batch_cannot_be_retried(stack: Stack) -> None:
    batch = create(stack, {"jobs": [child(failures=5)]}).json_body["batch"]
    stack.poller.drain()
    [job] = stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs", OWNER).json_body["jobs"]
    assert job["status"] == "failed"
    assert_error(stack.post(f"/api/background-jobs/{job['id']}/retry", {}, OWNER), 409, "invalid_job_state")


def test_a_batch_larger_than_its_minute_starts_the_rest_in_the_next_minutes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(T0)
    with built_stack(settings, clock, clocked_pollers=True) as stack, sqs_follows(clock):
        spread_a_batch(stack, monkeypatch)


def spread_a_batch(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.configure(monkeypatch, max_jobs_per_minute_per_store=10)
    assert create(stack, {"jobs": [child() for _ in range(4)]}).status_code == 201  # 6 places left
    batch = create(stack, {"jobs": [child() for _ in range(25)], "on_complete": {"type": FLAKY}}).json_body["batch"]
    children = stack.get(f"/api/background-jobs/batches/{batch['id']}/jobs?limit=100", OWNER).json_body["jobs"]
    minute = stack.clock.now().replace(second=0, microsecond=0)  # type: ignore[union-attr]
    starts = sorted(job["scheduled_at"] for job in children)
    later = [to_iso(minute + timedelta(minutes=k)) for k in (1, 2)]
    # 6 now, 10 at the next minute, 9 (and the callback's place) at the one after.
    assert sum(s < later[0] for s in starts) == 6 and starts.count(later[0]) == 10 and starts.count(later[1]) == 9
    single = stack.post("/api/background-jobs/schedule", {"store_id": "store-a", **child()}, OWNER)
    assert_error(single, 429, "rate_limited")  # this minute is full
    stack.clock.advance(180)  # type: ignore[union-attr]
    for _ in range(3):
        stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
    assert (shown["status"], shown["completed"]) == ("succeeded", 25)


def test_a_batch_that_fits_in_no_ten_minutes_is_refused_and_counts_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, max_jobs_per_minute_per_store=2)
    too_many = assert_error(create(stack, {"jobs": [child() for _ in range(21)]}), 429, "rate_limited")
    assert too_many["details"][0]["field"] == "jobs"
    assert create(stack, {"jobs": [child(), child()]}).status_code == 201  # the minute was left whole


def test_an_admin_only_child_type_refuses_a_store_owners_batch(stack: Stack) -> None:
    body = {"jobs": [child(), {"type": "cleanup", "payload": {"statuses": ["completed"]}}]}
    error = assert_error(create(stack, body), 403, "admin_only_type")
    assert error["details"] == [{"field": "jobs[1]"}]
    assert_error(create(stack, {"jobs": [child()], "on_complete": {"type": "cleanup"}}), 403, "admin_only_type")


def test_siblings_ending_at_the_same_instant_end_the_batch_once(stack: Stack) -> None:
    """Two workers count the last two children at once: one final write wins, one on_complete."""
    batch = create(stack, {"jobs": [child(), child()], "on_complete": {"type": FLAKY}}).json_body["batch"]
    service = stack.runtime.batches
    children = service.store.all_children(batch["id"])
    done = []
    for job in children:
        lease = {"lease_token": "t-" + job.id, "now": job.created_at, "lease_until": "9999-01-01T00:00:00Z"}
        claimed = stack.runtime.store.claim_due(job.id, due_by=job.scheduled_at, **lease)
        done.append(
            stack.runtime.store.finish(
                job.id, lease_token=claimed.lease_token or "", status=JobStatus.COMPLETED, now=job.created_at
            )
        )
    start = threading.Barrier(2)

    def count(job: Any) -> None:
        start.wait()
        service(job)

    threads = [threading.Thread(target=count, args=(job,)) for job in done]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job in done:  # and a redelivery of each, later
        service(job)
    final = service.store.get(batch["id"])
    assert final is not None and (final.state.value, final.completed, final.callbacks_sent) == ("succeeded", 2, True)
    assert len(callbacks(stack, batch["id"])) == 1


def test_a_creation_cut_short_is_settled_by_the_sweep(clocked_stack: Stack) -> None:
    """The API dies after storing the children, before sending them: the tick sends and opens;
    dies before storing them: the tick opens it empty, and on_complete (only) runs."""
    stack = clocked_stack
    service = stack.runtime.batches
    for fail_at in ("send", "store"):
        original = (service._send, service.jobs.store.create_many)

        def die(*_: Any) -> None:
            raise Killed()

        if fail_at == "send":
            service._send = die  # type: ignore[method-assign]
        else:
            service.jobs.store.create_many = die  # type: ignore[method-assign]
        body = {"jobs": [child(), child()], "on_complete": {"type": FLAKY}, "on_success": {"type": FLAKY}}
        with pytest.raises(Killed):
            create(stack, {**body, "idempotency_key": fail_at})
        service._send, service.jobs.store.create_many = original  # type: ignore[method-assign]
        batch = create(stack, {**body, "idempotency_key": fail_at}).json_body["batch"]
        assert batch["status"] == "creating"
        stack.clock.advance(SETTLE_AFTER_S + 1)  # type: ignore[union-attr]
        stack.runtime.tick.run_tick(stack.clock.now())  # type: ignore[union-attr]
        for _ in range(3):
            stack.poller.drain()
        shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
        ran = sorted(job["metadata"]["batch_callback"] for job in callbacks(stack, batch["id"]))
        if fail_at == "send":
            assert (shown["status"], shown["completed"], shown["note"]) == ("succeeded", 2, None)
            assert ran == ["on_complete", "on_success"]
        else:
            assert (shown["status"], shown["total"], shown["note"] is not None) == ("finished", 0, True)
            assert ran == ["on_complete"]


class Killed(BaseException):
    """Escapes the request as a killed process would."""


def test_a_child_not_started_by_its_deadline_counts_as_expired_and_the_batch_ends(clocked_stack: Stack) -> None:
    stack = clocked_stack
    body = {
        "jobs": [child(), child(expire_after_seconds=30)],
        "on_complete": {"type": FLAKY},
        "on_success": {"type": FLAKY},
    }
    batch = create(stack, body).json_body["batch"]
    stack.clock.advance(31)  # type: ignore[union-attr]
    for _ in range(3):
        stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER).json_body["batch"]
    assert (shown["status"], shown["completed"], shown["expired"], shown["pending"]) == ("finished", 1, 1, 0)
    assert [job["metadata"]["batch_callback"] for job in callbacks(stack, batch["id"])] == ["on_complete"]


def test_a_batch_child_takes_no_debounce_nor_dedup_window(stack: Stack) -> None:
    for window in ({"debounce": {"key": "k", "seconds": 5}}, {"dedup": {"key": "k", "seconds": 60}}):
        assert_error(create(stack, {"jobs": [child(**window)]}), 400, "validation_error")
