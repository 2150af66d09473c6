"""The minute tick: exactly-once slots, look-ahead, misfire and overlap policies, failure limits."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from chalicelib.clock import ManualClock, to_iso
from chalicelib.config import Settings
from chalicelib.crons.slots import slot_job_id
from chalicelib.crons.store import DUE_SHARD_KEYS
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack, built_stack
from tests.kit import T, at, create_cron, drain_until, executions, hold_first_run, tick


def test_a_new_cron_job_shows_its_next_run_in_utc(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    assert cron["next_run_at"] == to_iso(at(5))
    assert cron["schedule_description"]
    assert cron["run_count"] == 0 and cron["is_active"] is True


def test_a_slot_due_before_the_next_tick_is_queued_with_a_delay(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    report = tick(clocked_stack, at(4))
    assert report.fired == 1
    [job] = executions(clocked_stack, cron["id"])
    assert job.id == slot_job_id(cron["id"], at(5))
    assert job.scheduled_at == to_iso(at(5))
    sqs = clocked_stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName="tickwork-normal")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"  # starts at 12:05:00, not at the next tick
    stored = clocked_stack.runtime.cron_store.get(cron["id"])
    assert stored is not None and stored.next_run_at == to_iso(at(10)) and stored.run_count == 1


def test_a_slot_due_now_runs_and_its_outcome_is_counted_on_the_cron_job(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    tick(clocked_stack, at(5))
    clocked_stack.poller.drain()
    [job] = executions(clocked_stack, cron["id"])
    assert job.status == JobStatus.COMPLETED
    shown = clocked_stack.get(f"/api/cron-jobs/{cron['id']}", admin).json_body["job"]
    assert shown["last_status"] == "completed"
    assert shown["success_count"] == 1 and shown["failure_count"] == 0
    assert shown["last_run_at"]


def test_a_cron_job_created_mid_minute_queues_its_first_slot_at_once(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    stack.clock.advance(30)  # type: ignore[union-attr]  # 12:00:30: the 12:00 tick has run
    cron = create_cron(stack, admin, cron_expression="* * * * *")
    assert cron["run_count"] == 1 and cron["next_run_at"] == to_iso(at(2))
    [first] = executions(stack, cron["id"])
    assert first.id == slot_job_id(cron["id"], at(1)) and first.scheduled_at == to_iso(at(1))
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName="tickwork-normal")["QueueUrl"]
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # sent for 12:01, 29 s on
    report = tick(stack, at(1))
    assert report.fired == 1  # only the look-ahead slot, 12:02
    assert sorted(job.scheduled_at for job in executions(stack, cron["id"])) == [to_iso(at(1)), to_iso(at(2))]


def test_a_slot_beyond_the_last_tick_waits_for_its_tick(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)  # */5 at 12:00:00: 12:05 is the 12:04 tick's
    assert cron["run_count"] == 0 and executions(clocked_stack, cron["id"]) == []


def test_a_repeated_tick_fires_nothing_new(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    tick(clocked_stack, at(5))
    again = clocked_stack.runtime.tick.run_tick(at(5))
    assert again.fired == 0
    assert len(executions(clocked_stack, cron["id"])) == 1


def test_tick_fires_each_slot_once_when_ticks_overlap(clocked_stack: Stack, admin: str) -> None:
    crons = [create_cron(clocked_stack, admin, name=f"c{n}", cron_expression="* * * * *") for n in range(30)]
    clocked_stack.clock.advance(60)  # type: ignore[union-attr]
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        clocked_stack.runtime.tick.run_tick(at(1))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for cron in crons:
        slots = sorted(job.scheduled_at for job in executions(clocked_stack, cron["id"]))
        assert slots == [to_iso(at(1)), to_iso(at(2))]  # the slot due now and the one before the next tick
        stored = clocked_stack.runtime.cron_store.get(cron["id"])
        assert stored is not None and stored.run_count == 2 and stored.next_run_at == to_iso(at(3))


@pytest.mark.parametrize(
    ("policy", "expected_slots", "skipped"),
    [
        ("run_once", [30], 5),
        ("skip", [], 6),
        ("run_all", [5, 10, 15, 20, 25, 30], 0),
    ],
)
def test_slots_missed_while_the_tick_was_down_follow_the_misfire_policy(
    clocked_stack: Stack, admin: str, policy: str, expected_slots: list[int], skipped: int
) -> None:
    cron = create_cron(clocked_stack, admin, misfire_policy=policy)
    report = tick(clocked_stack, at(32))  # down from 12:00 to 12:32: 12:05 ... 12:30 missed
    assert sorted(job.scheduled_at for job in executions(clocked_stack, cron["id"])) == [
        to_iso(at(m)) for m in expected_slots
    ]
    assert report.skipped == skipped
    stored = clocked_stack.runtime.cron_store.get(cron["id"])
    assert stored is not None and stored.next_run_at == to_iso(at(35)) and stored.skipped_count == skipped


def test_a_paused_cron_job_is_not_due_and_on_resume_catches_up_once(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    assert clocked_stack.post(f"/api/cron-jobs/{cron['id']}/pause", {}, admin).json_body["job"]["is_active"] is False
    assert tick(clocked_stack, at(20)).due == 0
    resumed = clocked_stack.post(f"/api/cron-jobs/{cron['id']}/resume", {}, admin).json_body["job"]
    assert resumed["is_active"] is True
    tick(clocked_stack, at(21))
    assert [job.scheduled_at for job in executions(clocked_stack, cron["id"])] == [to_iso(at(20))]


def test_overlap_skip_records_a_run_over_a_running_one_as_skipped(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    tick(clocked_stack, at(5))
    first = hold_first_run(clocked_stack, cron["id"], 30)
    tick(clocked_stack, at(10))
    clocked_stack.poller.drain()
    second = clocked_stack.job(slot_job_id(cron["id"], at(10)))
    assert second.status == JobStatus.CANCELLED
    assert second.error == f"skipped: the previous run {first} was still running"
    assert handlers.starts[second.id] == 0
    shown = clocked_stack.get(f"/api/cron-jobs/{cron['id']}", admin).json_body["job"]
    assert shown["last_status"] == "skipped" and shown["skipped_count"] == 1 and shown["failure_count"] == 0


def test_overlap_allow_runs_while_the_previous_run_still_runs(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin, overlap_policy="allow")
    tick(clocked_stack, at(5))
    hold_first_run(clocked_stack, cron["id"], 30)
    tick(clocked_stack, at(10))
    clocked_stack.poller.drain()
    assert clocked_stack.job(slot_job_id(cron["id"], at(10))).status == JobStatus.COMPLETED


def test_overlap_buffer_one_lets_one_run_wait_for_the_running_one(settings: Settings, admin: str) -> None:
    with built_stack(dataclasses.replace(settings, run_after_poll_s=1), ManualClock(T)) as stack:
        cron = create_cron(stack, admin, overlap_policy="buffer_one")
        tick(stack, at(5))
        first = hold_first_run(stack, cron["id"], 30)
        tick(stack, at(10))
        stack.poller.drain()
        buffered = stack.job(slot_job_id(cron["id"], at(10)))
        assert buffered.status == JobStatus.PENDING and buffered.attempts == 0  # waiting, not failed
        tick(stack, at(15))
        stack.clock.advance(2)  # type: ignore[union-attr]
        drain_until(stack, lambda: stack.job(slot_job_id(cron["id"], at(15))).status == JobStatus.CANCELLED)
        assert "already waits its turn" in (stack.job(slot_job_id(cron["id"], at(15))).error or "")
        stack.runtime.store.finish(first, lease_token="w", status=JobStatus.COMPLETED, now=to_iso(at(16)))
        stack.clock.advance(2)  # type: ignore[union-attr]
        drain_until(stack, lambda: stack.job(buffered.id).status == JobStatus.COMPLETED)
        assert handlers.completions[buffered.id] == 1


def test_max_runs_deactivates_the_cron_job_after_that_many_runs(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin, max_runs=2, cron_expression="* * * * *")
    tick(clocked_stack, at(1))  # fires 12:01 and 12:02
    stored = clocked_stack.runtime.cron_store.get(cron["id"])
    assert stored is not None and stored.is_active is False and stored.run_count == 2
    assert stored.paused_reason == "reached max_runs (2)"
    assert tick(clocked_stack, at(5)).due == 0


def test_max_failures_failed_runs_in_a_row_pause_the_cron_job(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin, max_failures=2, max_retries=0, configuration={"failures": 99})
    for minute in (5, 10):
        tick(clocked_stack, at(minute))
        clocked_stack.poller.drain()
    shown = clocked_stack.get(f"/api/cron-jobs/{cron['id']}", admin).json_body["job"]
    assert shown["is_active"] is False
    assert shown["consecutive_failures"] == 2 and shown["failure_count"] == 2
    assert "2 consecutive failed runs" in shown["paused_reason"]
    assert "planned failure" in shown["last_error"]


def test_the_tick_reads_only_due_cron_jobs(clocked_stack: Stack, admin: str) -> None:
    due = create_cron(clocked_stack, admin, name="due")
    for n in range(20):
        create_cron(clocked_stack, admin, name=f"later{n}", cron_expression="0 3 * * *")
    paused = create_cron(clocked_stack, admin, name="paused")
    clocked_stack.post(f"/api/cron-jobs/{paused['id']}/pause", {}, admin)
    store = clocked_stack.runtime.cron_store
    found = [cron for shard in DUE_SHARD_KEYS for page in store.due(shard, to_iso(at(6))) for cron in page]
    assert [c.id for c in found] == [due["id"]]


def test_the_tick_lambda_handler_fires_due_slots_from_an_eventbridge_event(clocked_stack: Stack, admin: str) -> None:
    import app as app_module
    from devstack.pollers import LambdaContext, scheduled_event

    cron = create_cron(clocked_stack, admin)
    clocked_stack.clock.advance(300)  # type: ignore[union-attr]
    answer = app_module.tick(scheduled_event(at(5), "us-east-1"), LambdaContext("tick", 60))
    assert answer["fired"] == 1
    assert [job.scheduled_at for job in executions(clocked_stack, cron["id"])] == [to_iso(at(5))]
