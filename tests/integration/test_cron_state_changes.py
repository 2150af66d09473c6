"""A cron job's state changes against its runs and its tick: reschedule while paused, writes
that race an outcome, a slot left unsent, and a pause or delete that must hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib.clock import to_iso
from chalicelib.crons.slots import execution_job, slot_job_id
from chalicelib.crons.store import due_shard
from chalicelib.errors import StaleWriteError
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack, auth
from tests.kit import at, create_cron, duplicate_message, executions, tick, visible_messages


def patch(stack: Stack, cron_id: str, body: dict[str, Any], tok: str) -> dict[str, Any]:
    response = stack.client.http.patch(f"/api/cron-jobs/{cron_id}", headers=auth(tok), body=json.dumps(body))
    assert response.status_code == 200, response.json_body
    return response.json_body["job"]


def shown(stack: Stack, cron_id: str, tok: str) -> dict[str, Any]:
    return stack.get(f"/api/cron-jobs/{cron_id}", tok).json_body["job"]


def move_to(stack: Stack, minute: int, second: int = 0) -> None:
    stack.clock.advance((at(minute, second) - stack.clock.now()).total_seconds())  # type: ignore[union-attr]


# --- a schedule changed while paused ----------------------------------------------------


def test_a_schedule_changed_while_paused_drops_the_old_schedules_next_slot(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin)  # */5: next 12:05
    stack.post(f"/api/cron-jobs/{cron['id']}/pause", {}, admin)
    patched = patch(stack, cron["id"], {"cron_expression": "0 3 * * *"}, admin)
    assert patched["next_run_at"] == "2026-11-29T03:00:00.000000Z"  # from now, under the new schedule
    resumed = stack.post(f"/api/cron-jobs/{cron['id']}/resume", {}, admin).json_body["job"]
    assert resumed["next_run_at"] == "2026-11-29T03:00:00.000000Z"
    for minute in (4, 5, 6):
        tick(stack, at(minute))
    assert executions(stack, cron["id"]) == []  # 12:05 is not a slot of 0 3 * * *


def test_a_schedule_made_frequent_while_paused_fires_its_slots(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin, cron_expression="0 0 1 1 *")  # yearly
    stack.post(f"/api/cron-jobs/{cron['id']}/pause", {}, admin)
    assert patch(stack, cron["id"], {"cron_expression": "*/5 * * * *"}, admin)["next_run_at"] == to_iso(at(5))
    move_to(stack, 12)
    stack.post(f"/api/cron-jobs/{cron['id']}/resume", {}, admin)
    report = tick(stack, at(12))
    # 12:05 and 12:10 were missed while paused, under the schedule in force: run_once runs one.
    assert [job.scheduled_at for job in executions(stack, cron["id"])] == [to_iso(at(10))]
    assert report.skipped == 1
    tick(stack, at(14))
    assert sorted(job.scheduled_at for job in executions(stack, cron["id"])) == [to_iso(at(10)), to_iso(at(15))]


# --- writes that race a run's outcome ----------------------------------------------------


def failed_run(stack: Stack, cron_id: str) -> Any:
    cron = stack.runtime.cron_store.get(cron_id)
    assert cron is not None
    job = execution_job(cron, slot=at(5), now=at(5))
    failed = job.model_copy(update={"status": JobStatus.FAILED, "error": "boom", "completed_at": to_iso(at(5))})
    return stack.runtime.store.create(failed)  # an outcome is counted once per stored run


def test_a_stale_patch_keeps_the_pause_and_count_of_a_failed_run(
    clocked_stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin, max_failures=1)
    store = stack.runtime.cron_store
    read = store.get
    reads: list[Any] = []

    def read_then_a_run_fails(cron_id: str) -> Any:
        found = read(cron_id)
        if not reads:
            # Between the PATCH's read and its write: a run fails and auto-pauses the job.
            reads.append(found)
            stack.runtime.cron_outcomes(failed_run(stack, cron_id))
        return found

    monkeypatch.setattr(store, "get", read_then_a_run_fails)
    patched = patch(stack, cron["id"], {"name": "renamed"}, admin)
    monkeypatch.undo()
    assert len(reads) == 1
    assert patched["name"] == "renamed"
    assert patched["is_active"] is False and "1 consecutive failed runs" in patched["paused_reason"]
    assert patched["failure_count"] == 1 and patched["consecutive_failures"] == 1
    assert shown(stack, cron["id"], admin) == patched


def test_every_tick_and_outcome_write_makes_an_earlier_read_stale(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin, max_failures=1)
    store = stack.runtime.cron_store
    tick(stack, at(5))  # advance; 12:05's run becomes the current one
    for write in (
        lambda: store.record_outcome(  # counts it, and clears current_job_id
            cron["id"],
            job_id=slot_job_id(cron["id"], at(5)),
            status="failed",
            error="e",
            finished_at="x",
            succeeded=False,
        ),
        lambda: store.pause_after_failures(store.get(cron["id"]), "paused after failures", to_iso(at(5))),  # type: ignore[arg-type]
    ):
        before = store.get(cron["id"])
        assert before is not None
        write()
        with pytest.raises(StaleWriteError):
            store.replace(before.model_copy(update={"name": "stale"}), expected_version=before.version)
    after = store.get(cron["id"])
    assert after is not None and after.is_active is False and after.failure_count == 1 and after.current_job_id is None


# --- a slot stored but not sent -----------------------------------------------------------


def test_a_slot_unsent_at_save_is_sent_by_a_later_tick_despite_a_backlog(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    move_to(stack, 0, 45)
    stack.schedule(admin)  # a visible message: the overdue sweep leaves a busy queue alone
    sends: list[str] = []

    def fail_the_first_send(**_: Any) -> None:
        sends.append("send")
        if len(sends) == 1:
            raise EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")

    stack.runtime.queues._client.meta.events.register("before-call.sqs.SendMessage", fail_the_first_send)
    cron = create_cron(stack, admin, cron_expression="* * * * *")  # 12:01 stored at 12:00:45, its send fails
    first = slot_job_id(cron["id"], at(1))
    assert stack.job(first) is not None and len(sends) == 1
    tick(stack, at(1))  # 15 s old: left to its creator, so next_run_at stays on it
    assert visible_messages(stack) >= 1
    tick(stack, at(2))  # the first tick 30 s after its creation sends it
    stack.poller.drain()
    assert stack.job(first).status == JobStatus.COMPLETED
    assert stack.job(slot_job_id(cron["id"], at(2))).status == JobStatus.COMPLETED


# --- pause, delete, reschedule against a run already queued --------------------------------


def queued_ahead(stack: Stack, admin: str) -> tuple[dict[str, Any], str]:
    """A * * * * * cron job saved at 12:00:30: its 12:01 run is queued at once."""
    move_to(stack, 0, 30)
    cron = create_cron(stack, admin, cron_expression="* * * * *")
    run = slot_job_id(cron["id"], at(1))
    assert stack.job(run).status == JobStatus.PENDING
    return cron, run


def deliver_at(stack: Stack, minute: int, job_id: str) -> Any:
    """The run's message at its minute (moto's SQS delays run on real time: send one due now)."""
    move_to(stack, minute)
    duplicate_message(stack, job_id)
    stack.poller.drain()
    return stack.job(job_id)


def test_a_pause_holds_for_a_run_already_queued_ahead(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron, run = queued_ahead(stack, admin)
    stack.post(f"/api/cron-jobs/{cron['id']}/pause", {}, admin)
    job = deliver_at(stack, 1, run)
    assert job.status == JobStatus.CANCELLED
    assert job.error.startswith("skipped: its cron job is paused (paused by ")
    assert handlers.starts[run] == 0
    after = shown(stack, cron["id"], admin)
    assert after["last_status"] == "skipped" and after["skipped_count"] == 1 and after["failure_count"] == 0
    assert after["is_active"] is False


def test_a_delete_holds_for_a_run_already_queued_ahead(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron, run = queued_ahead(stack, admin)
    assert stack.client.http.delete(f"/api/cron-jobs/{cron['id']}", headers=auth(admin)).status_code == 200
    job = deliver_at(stack, 1, run)
    assert job.status == JobStatus.CANCELLED and job.error == "skipped: its cron job was deleted"
    assert handlers.starts[run] == 0


def test_a_run_queued_by_a_tick_that_read_a_stale_schedule_is_skipped(
    clocked_stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin)  # */5
    stale = stack.runtime.cron_store.get(cron["id"])
    patch(stack, cron["id"], {"cron_expression": "0 3 * * *"}, admin)
    # The due index is eventually consistent: the 12:04 tick still sees */5 and queues 12:05.
    stale_in = due_shard(cron["id"])
    monkeypatch.setattr(
        stack.runtime.cron_store, "due", lambda shard, horizon: iter([[stale]] if shard == stale_in else [])
    )
    report = tick(stack, at(4))
    assert report.fired == 0 and report.lost_races == 1  # its advance lost: next_run_at moved
    run = slot_job_id(cron["id"], at(5))
    job = deliver_at(stack, 5, run)
    assert job.status == JobStatus.CANCELLED and "has no slot at 2026-11-28T12:05:00" in job.error
    assert handlers.starts[run] == 0


def test_a_run_now_of_a_paused_cron_job_runs(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    cron = create_cron(stack, admin, is_active=False)
    execution = stack.post(f"/api/cron-jobs/{cron['id']}/run", {}, admin).json_body["execution"]
    stack.poller.drain()
    assert stack.job(execution["id"]).status == JobStatus.COMPLETED
