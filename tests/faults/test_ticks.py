"""The tick under faults: overlapping ticks over many due slots; a tick stopped for ten minutes."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from chalicelib.auth import SYSTEM_PRINCIPAL
from chalicelib.clock import to_iso
from chalicelib.crons.model import CronJobFields
from chalicelib.crons.slots import execution_job, slot_job_id
from chalicelib.crons.tick import TickReport
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack
from tests.faults.report import record
from tests.kit import at

CRONS_PER_STORE = 100  # under the per-store quota


def create_crons(stack: Stack, count: int, **fields: Any) -> list[str]:
    ids = []
    for n in range(count):
        body = {
            "name": f"fault cron {n}",
            "cron_expression": "*/5 * * * *",
            "job_type": "plugin:test-kit:flaky",
            "configuration": {},
            "store_id": f"store-{n // CRONS_PER_STORE}",
            **fields,
        }
        ids.append(stack.runtime.crons.create(CronJobFields.model_validate(body), SYSTEM_PRINCIPAL).id)
    return ids


def move_to(stack: Stack, moment: datetime) -> None:
    stack.clock.advance((moment - stack.clock.now()).total_seconds())  # type: ignore[union-attr]


def visible_messages(stack: Stack) -> int:
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName="tickwork-normal")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def test_four_concurrent_ticks_over_many_due_slots_fire_each_once(clocked_stack: Stack, size: int) -> None:
    stack = clocked_stack
    slots = 2 * size  # 1,000 at --size 500
    crons = create_crons(stack, slots)
    move_to(stack, at(5))
    barrier = threading.Barrier(4)
    reports: list[TickReport] = []

    def tick() -> None:
        barrier.wait()
        reports.append(stack.runtime.tick.run_tick(at(5)))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    messages = visible_messages(stack)
    jobs = [stack.job(slot_job_id(cron_id, at(5))) for cron_id in crons]
    stored = [stack.runtime.cron_store.get(cron_id) for cron_id in crons]
    stack.poller.drain(max_batches=10 * slots)
    executions = [handlers.starts[slot_job_id(cron_id, at(5))] for cron_id in crons]
    record(
        f"4 concurrent ticks ({slots} due slots)",
        slots=slots,
        jobs_created=sum(1 for job in jobs if job is not None),
        fired_by_tick=[r.fired for r in reports],
        lost_races=sum(r.lost_races for r in reports),
        messages_queued=messages,
        executions=sum(executions),
        slots_run_twice=sum(1 for n in executions if n > 1),
    )
    assert sum(r.fired for r in reports) == slots
    assert all(job is not None and job.scheduled_at == to_iso(at(5)) for job in jobs)
    assert all(c is not None and c.run_count == 1 and c.next_run_at == to_iso(at(10)) for c in stored)
    assert messages == slots  # one message a slot, not one per tick
    assert executions == [1] * slots
    assert all(stack.job(job.id).status == JobStatus.COMPLETED for job in jobs if job)


# "*/3" crons, ticks stop after 12:01 and resume at 12:11 (ten minutes without a tick): 12:03,
# 12:06 and 12:09 are missed (more than 90 s late), 12:12 is due before the next tick.
MISSED = [at(3), at(6), at(9)]
EXPECTED = {
    "run_once": ([at(9), at(12)], 2),  # one catch-up (the latest miss), then back on schedule
    "skip": ([at(12)], 3),
    "run_all": ([*MISSED, at(12)], 0),
}


def test_after_ten_minutes_without_ticks_each_misfire_policy_applies(clocked_stack: Stack, size: int) -> None:
    stack = clocked_stack
    per_policy = max(3, size // 10)
    crons = {
        policy: create_crons(stack, per_policy, cron_expression="*/3 * * * *", misfire_policy=policy)
        for policy in EXPECTED
    }
    move_to(stack, at(1))
    assert stack.runtime.tick.run_tick(at(1)).fired == 0
    move_to(stack, at(11))  # ticks 12:02 ... 12:10 never ran
    resumed = stack.runtime.tick.run_tick(at(11))
    counts: dict[str, Any] = {}
    for policy, (slots, skipped) in EXPECTED.items():
        for cron_id in crons[policy]:
            fired = sorted(
                slot for slot in [*MISSED, at(12), at(15)] if stack.job(slot_job_id(cron_id, slot)) is not None
            )
            assert fired == slots, policy
            cron = stack.runtime.cron_store.get(cron_id)
            assert cron is not None and cron.skipped_count == skipped and cron.next_run_at == to_iso(at(15))
        counts[policy] = f"fired {len(slots)} skipped {skipped} each"
    # Back on schedule: the next tick fires 12:15 for every one of them, and nothing old.
    move_to(stack, at(14))
    following = stack.runtime.tick.run_tick(at(14))
    assert following.fired == 3 * per_policy and following.skipped == 0
    record(
        f"tick down 10 min ({per_policy} crons per policy)",
        resumed_fired=resumed.fired,
        resumed_skipped=resumed.skipped,
        **counts,
        next_tick_fired=following.fired,
    )


def test_a_slot_job_a_dead_tick_left_unsent_is_sent_by_the_next_tick(clocked_stack: Stack) -> None:
    stack = clocked_stack
    [cron_id] = create_crons(stack, 1)
    move_to(stack, at(5))
    cron = stack.runtime.cron_store.get(cron_id)
    assert cron is not None
    # The tick died after storing the 12:05 job and before sending it or advancing the cron.
    stack.runtime.store.create(execution_job(cron, slot=at(5), now=at(5)))
    assert visible_messages(stack) == 0
    move_to(stack, at(6))
    stack.runtime.tick.run_tick(at(6))
    assert visible_messages(stack) == 1
    stack.poller.drain()
    assert stack.job(slot_job_id(cron_id, at(5))).status == JobStatus.COMPLETED
    assert handlers.starts[slot_job_id(cron_id, at(5))] == 1
