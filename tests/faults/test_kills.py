"""Workers killed mid-attempt (SIGKILL of the process, or a crash escaping it): nothing lost, nothing twice."""

from __future__ import annotations

import time
from collections import Counter

from chalicelib.jobs.lifecycle import JobStatus
from tests.faults import kit
from tests.faults.conftest import ServerStack
from tests.faults.report import record

KILL_P = 0.2
REAL_SHARE = 0.25  # of the killed attempts, the share killed by SIGKILL of the worker process


def test_killed_attempts_complete_once_with_each_effect_applied_once(server_stack: ServerStack, size: int) -> None:
    stack = server_stack
    started = time.monotonic()
    ids = stack.schedule(
        size, "plugin:fault-kit:effect", payload={"kill_p": KILL_P, "real_share": REAL_SHARE}, maxRetries=12
    )
    scheduled_s = time.monotonic() - started
    stack.workers.start(3, "normal")
    stack.until(lambda: stack.count_in(JobStatus.COMPLETED) == size, timeout_s=60 + size * 0.6)
    ran_s = time.monotonic() - started - scheduled_s
    stack.until(stack.queue_settled, 30)

    jobs = [stack.runtime.store.get(job_id) for job_id in ids]
    journal = stack.journal()
    completed = Counter(job_id for event, job_id in journal if event == "completed")
    effects = kit.effects_by_job(stack.session)
    killed = sum(1 for event, _ in journal if event == "killed")
    repeats = sum(1 for event, _ in journal if event == "effect-repeat")
    record(
        f"kills (size {size}, p={KILL_P})",
        jobs=size,
        completed=sum(1 for job in jobs if job and job.status == JobStatus.COMPLETED),
        lost=sum(1 for job in jobs if job is None or job.status != JobStatus.COMPLETED),
        completed_twice=sum(1 for n in completed.values() if n > 1),
        attempts=sum(job.attempts for job in jobs if job),
        killed_attempts=killed,
        sigkilled_processes=stack.workers.died,
        effect_repeats_absorbed=repeats,
        effects_applied=sum(effects.values()),
        dead_letters=stack.queue_depth()["dead_letter"],
        schedule_s=round(scheduled_s, 1),
        run_s=round(ran_s, 1),
    )
    assert all(job is not None and job.status == JobStatus.COMPLETED for job in jobs)
    assert [completed[job_id] for job_id in ids] == [1] * size
    assert [effects.get(job_id, 0) for job_id in ids] == [1] * size
    assert killed > 0 and stack.workers.died > 0  # the run did kill, both ways
    assert stack.queue_depth()["dead_letter"] == 0
