"""Counts each finished cron run on its cron job; pauses it after too many failures in a row."""

from __future__ import annotations

import logging

from chalicelib.clock import Clock, to_iso
from chalicelib.crons.store import DynamoCronStore
from chalicelib.jobs.lifecycle import JobStatus, is_terminal
from chalicelib.jobs.model import Job

logger = logging.getLogger("tickwork.cron")


class CronOutcomeRecorder:
    """A job listener: called once per job reaching a final status (the write that got it there won)."""

    def __init__(self, store: DynamoCronStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def __call__(self, job: Job) -> None:
        if not job.cron_job_id or not is_terminal(job.status):
            return
        succeeded = {JobStatus.COMPLETED: True, JobStatus.FAILED: False}.get(job.status)
        skipped = isinstance(job.result, dict) and job.result.get("skipped") is True
        now = to_iso(self.clock.now())
        cron = self.store.record_outcome(
            job.cron_job_id,
            job_id=job.id,
            status="skipped" if skipped else job.status.value,
            error=job.error if job.status == JobStatus.FAILED else None,
            finished_at=job.completed_at or now,
            succeeded=succeeded,
        )
        if cron is None or not cron.is_active or cron.max_failures is None:
            return
        if cron.consecutive_failures >= cron.max_failures:
            reason = (
                f"paused after {cron.consecutive_failures} consecutive failed runs (max_failures "
                f"{cron.max_failures}); last error: {job.error}"
            )
            logger.warning("cron job %s %s", cron.id, reason)
            self.store.pause_after_failures(cron, reason[:2000], now)
