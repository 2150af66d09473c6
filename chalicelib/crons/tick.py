"""The minute tick: turn each due cron slot into a job, exactly once, and move the cron on.

Called by EventBridge every minute (``app.tick``) and by the embedded stack at the start of
each minute. It looks one interval ahead: a slot due before the next tick is queued now with
an SQS delay, so the job starts at its second rather than up to a minute late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.crons.declarations import CronDeclaration
from chalicelib.crons.expression import CronError, parse_schedule
from chalicelib.crons.firing import plan_firings
from chalicelib.crons.model import CronJob, OverlapPolicy
from chalicelib.crons.service import CronService
from chalicelib.errors import StaleWriteError, TooManyRequestsError
from chalicelib.jobs.model import Job

logger = logging.getLogger("tickwork.tick")

# A lease this long expired means its message did not come back (it returns within a lease).
LOST_LEASE_GRACE_S = 300
SWEEP_BATCH = 100


@dataclass
class TickReport:
    at: datetime
    due: int = 0
    fired: int = 0
    skipped: int = 0
    lost_races: int = 0
    errors: int = 0
    requeued: int = 0
    rate_limited: int = 0  # cron jobs whose catch-up waits for their store's next minute
    job_ids: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        *,
        crons: CronService,
        clock: Clock,
        interval_s: int = 60,
        declarations: Callable[[], list[CronDeclaration]] = list,
    ) -> None:
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
        report.requeued = self.requeue_lost_leases(scheduled_at) + self.requeue_unsent(scheduled_at)
        return report

    def fire_ahead(self, cron: CronJob) -> CronJob:
        """Queue the slots of a cron job just created, resumed or rescheduled that the last tick
        would have queued had the job existed then; returns the job as it now stands.

        Without this a new job's first slot waited for the tick of that very minute and started
        as late as the tick's pass through every due job (seconds, with a few dozen); queued now,
        it starts on its second like every later slot. A tick running alongside is harmless:
        the cron's advance is conditional and slot job ids are derived.
        """
        if not cron.is_active or cron.next_run_at is None:
            return cron
        now = self.clock.now()
        step = self.interval.total_seconds()
        last_tick = datetime.fromtimestamp(now.timestamp() // step * step, tz=UTC)
        horizon = last_tick + self.interval
        if from_iso(cron.next_run_at) > horizon:
            return cron
        if from_iso(cron.next_run_at) < now:
            # Missed slots (a job resumed after a pause) are the tick's to catch up, within the
            # store's rate limit: fired here, one request could queue a whole batch of them.
            return cron
        try:
            return self._fire_due(cron, now, horizon, TickReport(at=now))
        except StaleWriteError:
            return self.crons.store.get(cron.id) or cron  # a tick got there first
        except Exception:
            # The job is saved; the next tick fires the slot, only later than it could have.
            logger.exception("cron job %s: could not queue its first slot ahead; the tick will", cron.id)
            return cron

    def requeue_lost_leases(self, now: datetime) -> int:
        """Send a fresh message for jobs whose worker vanished and whose message is gone too.

        A dead worker's message normally returns within a lease; this sweep covers the rest (a
        message deleted by hand, or parked in the DLQ while its job still says running). The
        worker that receives the new message reclaims the job through the expired lease.
        """
        cutoff = to_iso(now - timedelta(seconds=LOST_LEASE_GRACE_S))
        found = self.crons.jobs.lost_leases(cutoff, limit=SWEEP_BATCH)
        return self._requeue(found, "after its lease expired")

    def requeue_unsent(self, now: datetime) -> int:
        """Send a message for jobs long overdue that no message seems to carry.

        A job is stored before its message is sent; an API that dies in between (a deploy, a
        crash) leaves a pending job nothing will run. Only queues with no visible message are
        considered: an overdue job behind a backlog is waiting its turn, not lost, and a
        duplicate per job per tick would grow that backlog. A duplicate is harmless otherwise.
        """
        cutoff = to_iso(now - timedelta(seconds=LOST_LEASE_GRACE_S))
        found = self.crons.jobs.overdue_in_idle_queues(cutoff, limit=SWEEP_BATCH)
        return self._requeue(found, "while overdue")

    def _requeue(self, found: list[Job], why: str) -> int:
        """A fresh message for each job; one that fails is logged and left for the next tick."""
        requeued = 0
        for job in found:
            try:
                self.crons.jobs.requeue(job)
                requeued += 1
            except Exception:
                logger.exception("job %s: could not re-queue it %s", job.id, why)
        return requeued

    def _admit_catch_up(self, cron: CronJob, report: TickReport) -> bool:
        try:
            self.crons.jobs.admit(cron.store_id)
        except TooManyRequestsError:
            report.rate_limited += 1
            return False
        return True

    def _fire_due(self, cron: CronJob, tick_at: datetime, horizon: datetime, report: TickReport) -> CronJob:
        assert cron.next_run_at is not None
        try:
            schedule = parse_schedule(cron.cron_expression, cron.timezone)
        except CronError as error:
            return self.crons.store.advance(
                cron,
                next_run_at=None,
                now=to_iso(self.clock.now()),
                fired=0,
                skipped=0,
                current_job_id=None,
                deactivate_reason=f"invalid schedule: {error.message}",
            )
            return
        plan = plan_firings(
            schedule, from_iso(cron.next_run_at), now=tick_at, horizon=horizon, policy=cron.misfire_policy
        )
        slots = plan.fire
        deactivate = None
        if cron.max_runs is not None and cron.run_count + len(slots) >= cron.max_runs:
            slots = slots[: max(0, cron.max_runs - cron.run_count)]
            deactivate = f"reached max_runs ({cron.max_runs})"
        current = cron.current_job_id
        now = self.clock.now()
        next_run_at = plan.next_run_at
        for index, slot in enumerate(slots):
            if index < plan.catch_up and not self._admit_catch_up(cron, report):
                # The rest waits for a tick in which the store has room; nothing is skipped.
                slots, next_run_at, deactivate = slots[:index], slot, None
                break
            # Each run names the one fired before it; the worker applies the overlap policy
            # when the run is due, which is when "the previous run still runs" can be known.
            run_after = current if cron.overlap_policy != OverlapPolicy.ALLOW else None
            job = self.crons.execution_job(cron, slot=slot, now=now, run_after=run_after)
            self.crons.fire(job, now)
            current = job.id
            report.job_ids.append(job.id)
        fired = len(slots)
        if next_run_at is None and deactivate is None:
            deactivate = "the schedule has no further slots"
        # Jobs first, then the conditional advance: a crash in between leaves next_run_at where
        # it was, and the next tick re-derives the same job ids, which exist already.
        advanced = self.crons.store.advance(
            cron,
            next_run_at=to_iso(next_run_at) if next_run_at else None,
            now=to_iso(self.clock.now()),
            fired=fired,
            skipped=plan.skipped,
            current_job_id=current if current != cron.current_job_id else None,
            deactivate_reason=deactivate,
        )
        report.fired += fired
        report.skipped += plan.skipped
        return advanced
