"""Whether a scheduled cron run may still start: asked by the worker when it claims one."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.clock import from_iso
from chalicelib.crons.expression import CronError, parse_schedule
from chalicelib.crons.store import DynamoCronStore
from chalicelib.jobs.model import Job


class CronRunGate:
    """Skips a scheduled run its cron job no longer wants: paused, deleted, or rescheduled.

    The tick queues a slot up to a minute ahead, and it reads the eventually consistent ``due``
    index, so it may queue a run from a configuration that changed meanwhile; a user's pause
    must hold all the same. Cost: one consistent GetItem on the cron table per claim of a
    scheduled run (retries and buffered re-claims included). A run-now (no ``cron_slot``) was
    asked for by a person outside the schedule and is not checked.
    """

    def __init__(self, store: DynamoCronStore) -> None:
        self.store = store

    def __call__(self, job: Job) -> str | None:
        """Why the run must not start, or None if it may."""
        if job.cron_job_id is None or job.cron_slot is None:
            return None
        cron = self.store.get(job.cron_job_id)
        if cron is None:
            return "its cron job was deleted"
        if not cron.is_active and cron.next_run_at is not None:
            # Paused (by a user or after failures) keeps next_run_at; a job the tick ended
            # (max_runs, no further slot) has none, and the runs it queued before ending still run.
            return "its cron job is paused" + (f" ({cron.paused_reason})" if cron.paused_reason else "")
        try:
            schedule = parse_schedule(cron.cron_expression, cron.timezone)
        except CronError:
            return None  # the tick deactivates such a job; what it queued before still runs
        slot = from_iso(job.cron_slot)
        try:
            in_schedule = schedule.next_after(slot - timedelta(microseconds=1)) == slot
        except CronError:  # never fires again
            in_schedule = False
        if not in_schedule:
            return f"its cron job's schedule ({cron.cron_expression}, {cron.timezone}) has no slot at {job.cron_slot}"
        return None
