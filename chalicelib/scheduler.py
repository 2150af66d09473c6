"""The minute tick: turn each due cron slot into a job, exactly once, and move the cron on.

Called by EventBridge every minute (``app.tick``) and by the embedded stack at the start of
each minute. It looks one interval ahead: a slot due before the next tick is queued now with
an SQS delay, so the job starts at its second rather than up to a minute late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.cron import CronError, parse_schedule
from chalicelib.crons.firing import plan_firings
from chalicelib.crons.models import CronJob, OverlapPolicy
from chalicelib.crons.service import CronService
from chalicelib.errors import StaleWriteError
from chalicelib.scheduler_declarations import CronDeclaration
from chalicelib.lifecycle import JobStatus, is_terminal
from chalicelib.store import JobExistsError

logger = logging.getLogger("tickwork.tick")


@dataclass
class TickReport:
    at: datetime
    due: int = 0
    fired: int = 0
    skipped: int = 0
    lost_races: int = 0
    errors: int = 0
    job_ids: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(self, *, crons: CronService, clock: Clock, interval_s: int = 60,
                 declarations: Callable[[], list[CronDeclaration]] = list) -> None:
        self.crons = crons
        self.clock = clock
        self.interval = timedelta(seconds=interval_s)
        self._declarations = declarations
        self._declared = False

    def ensure_declared(self) -> None:
        """Create the cron jobs plugins declared, once per process (a conditional put each)."""
        if self._declared:
            return
        for declaration in self._declarations():
            try:
                self.crons.ensure_declared(declaration.key, declaration.fields, declaration.plugin)
            except Exception:
                logger.exception("plugin %s: could not create its cron job %r", declaration.plugin, declaration.key)
        self._declared = True

    def run_tick(self, scheduled_at: datetime) -> TickReport:
        """``scheduled_at`` is EventBridge's time for this tick (a late start keeps its slots)."""
        self.ensure_declared()
        report = TickReport(at=scheduled_at)
        horizon = scheduled_at + self.interval
        for cron in self.crons.store.due(to_iso(horizon)):
            report.due += 1
            try:
                self._fire_due(cron, scheduled_at, horizon, report)
            except StaleWriteError:
                report.lost_races += 1  # another tick handled these slots
            except Exception:
                report.errors += 1
                logger.exception("cron job %s: tick failed; it is retried next tick", cron.id)
        return report

    def _fire_due(self, cron: CronJob, tick_at: datetime, horizon: datetime, report: TickReport) -> None:
        assert cron.next_run_at is not None
        try:
            schedule = parse_schedule(cron.cron_expression, cron.timezone)
        except CronError as error:
            self.crons.store.advance(cron, next_run_at=None, now=to_iso(self.clock.now()), fired=0, skipped=0,
                                     current_job_id=None, deactivate_reason=f"invalid schedule: {error.message}")
            return
        plan = plan_firings(schedule, from_iso(cron.next_run_at), now=tick_at, horizon=horizon,
                            policy=cron.misfire_policy)
        slots = plan.fire
        deactivate = None
        if cron.max_runs is not None and cron.run_count + len(slots) >= cron.max_runs:
            slots = slots[: max(0, cron.max_runs - cron.run_count)]
            deactivate = f"reached max_runs ({cron.max_runs})"
        current = cron.current_job_id
        fired = skipped = 0
        for slot in slots:
            job_id = self._fire_slot(cron, slot, current)
            if job_id is None:
                skipped += 1
                continue
            fired += 1
            current = job_id
            report.job_ids.append(job_id)
        if plan.next_run_at is None and deactivate is None:
            deactivate = "the schedule has no further slots"
        # Jobs first, then the conditional advance: a crash in between leaves next_run_at where
        # it was, and the next tick re-derives the same job ids, which exist already.
        self.crons.store.advance(
            cron,
            next_run_at=to_iso(plan.next_run_at) if plan.next_run_at else None,
            now=to_iso(self.clock.now()),
            fired=fired,
            skipped=skipped + plan.skipped,
            current_job_id=current if current != cron.current_job_id else None,
            deactivate_reason=deactivate,
        )
        report.fired += fired
        report.skipped += skipped + plan.skipped

    def _fire_slot(self, cron: CronJob, slot: datetime, current_id: str | None) -> str | None:
        """Queue one slot's job; None when the overlap policy records it as skipped instead."""
        now = self.clock.now()
        previous = self.crons.jobs.store.get(current_id) if current_id else None
        still_running = previous is not None and not is_terminal(previous.status)
        run_after = None
        if still_running and cron.overlap_policy == OverlapPolicy.SKIP:
            self._record_skip(cron, slot, now, f"skipped: the previous run {current_id} was still running")
            return None
        if still_running and cron.overlap_policy == OverlapPolicy.BUFFER_ONE:
            assert previous is not None
            if previous.run_after is not None and previous.status == JobStatus.PENDING:
                # One run already waits for its predecessor: buffer_one keeps at most one.
                self._record_skip(cron, slot, now, f"skipped: run {current_id} already waits its turn")
                return None
            run_after = current_id
        job = self.crons.execution_job(cron, slot=slot, now=now, run_after=run_after)
        self.crons.fire(job, now)
        return job.id

    def _record_skip(self, cron: CronJob, slot: datetime, now: datetime, reason: str) -> None:
        """A skipped slot is still an execution in the history: a job born cancelled."""
        stamp = to_iso(now)
        job = self.crons.execution_job(cron, slot=slot, now=now).model_copy(
            update={"status": JobStatus.CANCELLED, "error": reason, "completed_at": stamp}
        )
        try:
            self.crons.jobs.store.create(job)
        except JobExistsError:
            pass  # an overlapping tick recorded it first
