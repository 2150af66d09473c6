"""At-least-once delivery: every message twice, two worker processes on one queue."""

from __future__ import annotations

from collections import Counter

from chalicelib.jobs.lifecycle import JobStatus
from tests.faults import kit
from tests.faults.conftest import ServerStack
from tests.faults.report import record


def test_messages_delivered_twice_to_two_workers_run_each_job_once(server_stack: ServerStack, size: int) -> None:
    stack = server_stack
    ids = stack.schedule(size, "plugin:fault-kit:effect", payload={})
    for job_id in ids:
        job = stack.runtime.store.get(job_id)
        assert job is not None
        stack.runtime.jobs.requeue(job)  # the duplicate SQS may deliver
    assert stack.queue_depth()["visible"] == 2 * size
    # No kills here: a lease long enough that no attempt outlives it, even on moto slowed by a
    # 1,000-message queue (at --size 500 a 1 s lease lapsed once and a duplicate started the job
    # again; its late finish was refused, so it still completed once).
    stack.workers.env["TICKWORK_LEASE_S"] = "10"
    stack.workers.start(2, "normal")
    stack.until(lambda: stack.count_in(JobStatus.COMPLETED) == size, timeout_s=60 + size * 0.5)
    stack.until(stack.queue_settled, 30)

    journal = stack.journal()
    starts = Counter(job_id for event, job_id in journal if event == "start")
    completed = Counter(job_id for event, job_id in journal if event == "completed")
    effects = kit.effects_by_job(stack.session)
    record(
        f"duplicates (size {size}, 2 workers)",
        jobs=size,
        messages=2 * size,
        executions=sum(starts.values()),
        completed=sum(completed.values()),
        executed_twice=sum(1 for n in starts.values() if n > 1),
        effects_applied=sum(effects.values()),
    )
    assert [starts[job_id] for job_id in ids] == [1] * size
    assert [completed[job_id] for job_id in ids] == [1] * size
    assert [effects.get(job_id, 0) for job_id in ids] == [1] * size
    assert stack.queue_depth()["dead_letter"] == 0
