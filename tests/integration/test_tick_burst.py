"""A burst of due slots: the sharded due index, the tick's pool and batched sends, its time budget."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from chalicelib.clock import to_iso
from chalicelib.crons.slots import slot_job_id
from chalicelib.crons.store import DUE_SHARDS, LEGACY_DUE_SHARD, due_shard
from chalicelib.crons.tick import MinuteTick
from chalicelib.jobs.lifecycle import Priority
from chalicelib.jobs.model import JobMessage
from tests.conftest import Stack
from tests.kit import at, create_cron, tick, visible_messages

CRONS = 60


def calls_of(stack: Stack) -> Counter[str]:
    """Every AWS operation the runtime's clients make from here on."""
    seen: Counter[str] = Counter()
    stack.session.events.register("before-call", lambda model, **_: seen.update([model.name]))
    return seen


def many_crons(stack: Stack, tok: str, count: int = CRONS) -> list[dict[str, Any]]:
    return [create_cron(stack, tok, name=f"c{n}", store_id=f"store-{n % 3}") for n in range(count)]


def slots_queued(stack: Stack) -> int:
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName="tickwork-normal")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesDelayed"]) + visible_messages(stack)


def test_every_shard_of_the_due_index_holds_some_cron_jobs(clocked_stack: Stack, admin: str) -> None:
    crons = many_crons(clocked_stack, admin, 120)
    items = clocked_stack.runtime.cron_store._table.scan()["Items"]
    shards = Counter(str(item["due_shard"]) for item in items if item["id"] in {c["id"] for c in crons})
    assert set(shards) == {f"{n:02d}" for n in range(DUE_SHARDS)}
    assert max(shards.values()) <= 3 * 120 / DUE_SHARDS


def test_a_burst_fires_every_slot_once_with_batched_sends(clocked_stack: Stack, admin: str) -> None:
    crons = many_crons(clocked_stack, admin)
    calls = calls_of(clocked_stack)
    report = tick(clocked_stack, at(4))
    assert (report.due, report.fired, report.errors, report.deferred) == (CRONS, CRONS, 0, 0)
    assert all(clocked_stack.job(slot_job_id(c["id"], at(5))) is not None for c in crons)
    assert slots_queued(clocked_stack) == CRONS
    assert calls["SendMessage"] == 0 and calls["SendMessageBatch"] <= CRONS // 2


def test_a_tick_out_of_time_leaves_the_rest_due_for_the_next(
    clocked_stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    crons = many_crons(clocked_stack, admin, 20)
    rt = clocked_stack.runtime
    fired: list[str] = []
    fire_due = rt.crons.fire_due
    monkeypatch.setattr(rt.crons, "fire_due", lambda cron, *rest: fired.append(cron.id) or fire_due(cron, *rest))
    # Its clock passes the 10 s budget once 5 cron jobs have fired.
    short = MinuteTick(
        crons=rt.crons, jobs=rt.jobs, clock=rt.clock, budget_s=10, monotonic=lambda: 100.0 if len(fired) >= 5 else 0.0
    )
    clocked_stack.clock.advance((at(4) - clocked_stack.clock.now()).total_seconds())  # type: ignore[union-attr]
    first = short.run_tick(at(4))
    assert first.fired == 5 and first.out_of_time and first.fired + first.deferred == first.due
    clocked_stack.clock.advance(30)  # type: ignore[union-attr]
    second = rt.tick.run_tick(at(4, 30))
    assert second.fired == 15 and second.deferred == 0 and not second.out_of_time
    assert second.max_lateness_s == 0  # 12:05 slots, fired at 12:04:30
    assert all(clocked_stack.job(slot_job_id(c["id"], at(5))) is not None for c in crons)


def test_a_cron_job_stored_before_sharding_fires_and_moves_to_its_shard(clocked_stack: Stack, admin: str) -> None:
    cron = create_cron(clocked_stack, admin)
    table = clocked_stack.runtime.cron_store._table
    table.update_item(
        Key={"id": cron["id"]},
        UpdateExpression="SET due_shard = :s",
        ExpressionAttributeValues={":s": LEGACY_DUE_SHARD},
    )
    assert tick(clocked_stack, at(4)).fired == 1
    assert table.get_item(Key={"id": cron["id"]})["Item"]["due_shard"] == due_shard(cron["id"])


def test_a_late_tick_reports_how_late_its_slots_went(clocked_stack: Stack, admin: str) -> None:
    create_cron(clocked_stack, admin)
    report = tick(clocked_stack, at(5, 40))
    assert report.fired >= 1 and report.max_lateness_s == pytest.approx(40)


def test_concurrent_sends_leave_in_batches_and_each_learns_its_id(stack: Stack) -> None:
    from chalicelib.aws.send_batches import BatchingQueues

    queues = BatchingQueues(stack.session.client("sqs"), "tickwork-", linger_s=0.05)
    calls = calls_of(stack)
    ids: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        message_id = queues.send(Priority.LOW, JobMessage(job_id=f"job-{n}", due_at=to_iso(at(0))))
        with lock:
            ids.append(message_id)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(set(ids)) == 25 and calls["SendMessage"] == 0 and calls["SendMessageBatch"] <= 5
    assert visible_messages(stack, "low") == 25


def test_a_refused_batch_fails_every_send_in_it(stack: Stack) -> None:
    from chalicelib.aws.send_batches import BatchingQueues

    queues = BatchingQueues(stack.session.client("sqs"), "tickwork-", linger_s=0.0)
    queues.url_for(Priority.LOW)  # known, then deleted under it
    stack.session.client("sqs").delete_queue(QueueUrl=queues.url_for(Priority.LOW))
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        queues.send(Priority.LOW, JobMessage(job_id="job-x", due_at=to_iso(at(0))))
