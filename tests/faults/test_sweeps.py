"""The tick's sweeps: jobs whose message is gone (never sent, deleted by mistake) are not lost."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.clock import to_iso
from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.model import Job
from tests import handlers
from tests.conftest import T0, Stack
from tests.faults.report import record
from tests.kit import T0_PLUS, queue_url, visible_messages


def stored_without_message(stack: Stack, **fields: Any) -> Job:
    """What an API process killed between its PutItem and its SendMessage leaves behind."""
    stamp = to_iso(stack.clock.now())  # type: ignore[union-attr]
    job = Job(
        id=str(uuid.uuid4()),
        type="plugin:test-kit:flaky",
        priority=Priority.NORMAL,
        status=JobStatus.PENDING,
        store_id="store-a",
        created_at=stamp,
        updated_at=stamp,
        scheduled_at=stamp,
        **fields,
    )
    return stack.runtime.store.create(job)


def tick_at(stack: Stack, minutes: int) -> int:
    stack.clock.advance((T0_PLUS(minutes) - stack.clock.now()).total_seconds())  # type: ignore[union-attr]
    return stack.runtime.tick.run_tick(T0_PLUS(minutes)).requeued


def test_a_job_stored_but_never_sent_by_a_dead_api_is_sent_by_the_tick(clocked_stack: Stack) -> None:
    stack = clocked_stack
    orphan = stored_without_message(stack)
    assert tick_at(stack, 2) == 0  # young: its sender may still be at work
    assert tick_at(stack, 6) == 1
    stack.poller.drain()
    assert stack.job(orphan.id).status == JobStatus.COMPLETED
    assert handlers.starts[orphan.id] == 1


def test_the_sweep_leaves_overdue_jobs_alone_in_a_backlogged_queue(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    orphan = stored_without_message(stack)
    queued = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    assert tick_at(stack, 6) == 0  # a message is waiting: overdue jobs there are a backlog, not lost
    assert visible_messages(stack) == 1
    stack.poller.drain()
    assert stack.job(queued["id"]).status == JobStatus.COMPLETED
    assert tick_at(stack, 7) == 1
    stack.poller.drain()
    assert stack.job(orphan.id).status == JobStatus.COMPLETED


def test_a_running_job_without_its_message_is_requeued_or_failed(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    spare = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, maxRetries=1)
    last = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, maxRetries=0)
    sqs = stack.session.client("sqs")
    for message in sqs.receive_message(QueueUrl=queue_url(stack), MaxNumberOfMessages=10)["Messages"]:
        job_id = json.loads(message["Body"])["job_id"]
        # A worker claims it, then vanishes; an operator deletes the message by mistake.
        stack.runtime.store.claim_due(
            job_id, lease_token="gone", now=to_iso(T0), lease_until=to_iso(T0_PLUS(1)), due_by=to_iso(T0)
        )
        sqs.delete_message(QueueUrl=queue_url(stack), ReceiptHandle=message["ReceiptHandle"])
    assert tick_at(stack, 3) == 0  # the lease lapsed only just: its message would come back
    assert tick_at(stack, 10) == 2
    stack.poller.drain()
    rerun, failed = stack.job(spare["id"]), stack.job(last["id"])
    record(
        "lost leases (message deleted by mistake)",
        requeued=2,
        rerun_status=rerun.status.value,
        out_of_retries_status=failed.status.value,
    )
    assert rerun.status == JobStatus.COMPLETED and rerun.attempts == 2
    assert failed.status == JobStatus.FAILED
    assert failed.error == "The worker stopped (crash or timeout) during attempt 1 of 1; no retries left."
    assert handlers.starts[last["id"]] == 0
