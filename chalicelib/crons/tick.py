"""The minute tick: turn each due cron slot into a job, exactly once, and move the cron on.

Called by EventBridge every minute (``app.tick``) and by the embedded stack at the start of
each minute. It looks one interval ahead: a slot due before the next tick is queued now with
an SQS delay, so the job starts at its second rather than up to a minute late.

It reads the due index shard by shard and fires the cron jobs it finds from a pool of threads,
whose messages leave in batches of ten. What does not fit in its time budget stays due, and the
next tick fires it, late; the report says how many were left and how late the latest slot went.

Cron jobs of a paused store (or plugin) are left due, unfired and unchanged: each page's stores
are looked up once per tick (one BatchGetItem), and on resume the tick finds their missed slots
as it finds a resumed cron job's, and its misfire policy decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.clock import Clock, to_iso
from chalicelib.crons.declarations import CronDeclaration
from chalicelib.crons.model import CronJob
from chalicelib.crons.service import CronService
from chalicelib.crons.slots import Fired
from chalicelib.errors import StaleWriteError
from chalicelib.jobs.model import Job
from chalicelib.jobs.service import JobService
from chalicelib.metrics import Metric, Metrics
from chalicelib.stats.recorder import StatsRecorder
from chalicelib.stores.slots import Pause
from chalicelib.telemetry import context

logger = logging.getLogger("tickwork.tick")

NOT_PAUSED = Pause()
# A lease this long expired means its message did not come back (it returns within a lease).
LOST_LEASE_GRACE_S = 300
SWEEP_BATCH = 100
# The tick adds the minute this far back into its hour's stats item: by then the writers that
# counted in that minute have written (a batch writes at its end, into the minute it ends in).
ROLL_UP_LAG = timedelta(minutes=2)


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
    deferred: int = 0  # due cron jobs read but left for the next tick: the time budget ran out
    paused: int = 0  # due cron jobs left due: their store, or their plugin in it, is paused
    out_of_time: bool = False  # the budget ran out: shards not read yet wait for the next tick too
    max_lateness_s: float = 0.0  # how long after its slot the latest slot fired went out
    latenesses_s: list[float] = field(default_factory=list)  # each cron job that fired: its earliest slot's
    job_ids: list[str] = field(default_factory=list)

    def add(self, fired: Fired) -> None:
        self.fired += fired.fired
        self.skipped += fired.skipped
        self.rate_limited += fired.rate_limited
        self.max_lateness_s = max(self.max_lateness_s, fired.lateness_s)
        if fired.fired:
            self.latenesses_s.append(fired.lateness_s)
        self.job_ids.extend(fired.job_ids)


class MinuteTick:
    """The tick: fires due cron slots through the cron service, and sweeps up jobs no message carries."""

    def __init__(
        self,
        *,
        crons: CronService,
        jobs: JobService,
        clock: Clock,
        interval_s: int = 60,
        declarations: Callable[[], list[CronDeclaration]] = list,
        concurrency: int = 1,
        budget_s: float = 50.0,
        monotonic: Callable[[], float] = time.monotonic,
        pauses: Callable[[Iterable[str]], dict[str, Pause]] | None = None,
        metrics: Metrics | None = None,
        heartbeat: Callable[[datetime], None] | None = None,
        stats: StatsRecorder | None = None,
        depths: Callable[[], dict[str, int]] | None = None,
        batches: Callable[[datetime], int] | None = None,
    ) -> None:
        self._batches = batches  # settles batches a crash left unfinished (chalicelib/batches/)
        self.stats = stats  # the overview's counters: lateness and queue depths, one write per tick
        self._depths = depths
        self.metrics = metrics  # flushed once per tick, with the jobs its firing scheduled
        self.crons = crons
        self.jobs = jobs
        self.clock = clock
        self.interval = timedelta(seconds=interval_s)
        self.concurrency = concurrency
        self.budget_s = budget_s
        self._monotonic = monotonic
        self._declarations = declarations
        self._declared = False
        self._pauses = pauses  # what is paused of each store (chalicelib/stores/slots.py)
        self._heartbeat = heartbeat  # when the tick last ran, for /api/health (crons/heartbeat.py)

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
        # One correlation id per run: the jobs it fires carry it to their workers' lines.
        with context.bound(correlation_id=context.new_correlation_id()):
            return self._run_tick(scheduled_at)

    def _run_tick(self, scheduled_at: datetime) -> TickReport:
        self.ensure_declared()
        report = TickReport(at=scheduled_at)
        horizon = scheduled_at + self.interval
        began = self._monotonic()
        deadline = began + self.budget_s
        paused: dict[str, Pause] = {}  # per store, read once per tick
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="tick") as pool:
            pages = (page for shard in self.crons.due_shards() for page in self.crons.due_pages(shard, horizon))
            for page in pages:
                # A page at a time: memory stays one page, and a tick out of time reads no further.
                report.due += len(page)
                self._learn_pauses((cron.store_id for cron in page), paused)
                firing = [cron for cron in page if not paused.get(cron.store_id, NOT_PAUSED).holds(cron.plugin_id)]
                report.paused += len(page) - len(firing)
                fire = context.carried(lambda cron: self._fire(cron, scheduled_at, horizon, deadline))
                for outcome in pool.map(fire, firing):
                    if isinstance(outcome, Fired):
                        report.add(outcome)
                    elif outcome == "deferred":
                        report.deferred += 1
                    elif outcome == "lost race":
                        report.lost_races += 1  # another tick handled these slots
                    else:
                        report.errors += 1
                if self._monotonic() >= deadline:
                    report.out_of_time = True
                    break  # the rest stays due: the next tick reads it again
        if report.out_of_time:
            logger.warning(
                "tick %s: out of time after %.0f s; %d due cron jobs read and left for the next tick, "
                "and the shards not read yet",
                to_iso(scheduled_at),
                self.budget_s,
                report.deferred,
            )
        report.requeued = self.requeue_lost_leases(scheduled_at, paused) + self.requeue_unsent(scheduled_at, paused)
        if self._batches is not None:
            try:
                self._batches(scheduled_at)
            except Exception:
                logger.exception("tick %s: the batch sweep failed; the next tick sweeps again", to_iso(scheduled_at))
        self._record(report, (self._monotonic() - began) * 1000)
        self._record_stats(report, scheduled_at)
        self._beat()
        return report

    def _record(self, report: TickReport, duration_ms: float) -> None:
        """The tick's metrics; ``Ticks`` is written only by a tick that ran to its end, so an alarm
        on its absence also catches ticks that fail."""
        if self.metrics is None:
            return
        self.metrics.count(Metric.TICKS)
        self.metrics.count(Metric.SLOTS_FIRED, value=report.fired)
        self.metrics.count(Metric.CRON_JOBS_DUE, value=report.due)
        self.metrics.count(Metric.CRON_JOBS_DEFERRED, value=report.deferred)
        self.metrics.count(Metric.TICK_ERRORS, value=report.errors)
        self.metrics.observe(Metric.TICK_DURATION, duration_ms)
        for lateness_s in report.latenesses_s:
            self.metrics.observe(Metric.CRON_FIRING_LATENESS, lateness_s)
        self.metrics.flush()

    def _record_stats(self, report: TickReport, scheduled_at: datetime) -> None:
        """The tick's counters and a sample of the queues' depths, then the hour's roll-up of an
        earlier minute. The overview is a picture: a failure here must not fail the tick."""
        if self.stats is None:
            return
        self.stats.tally.lateness(report.latenesses_s)
        depths: dict[str, int] | None = None
        if self._depths is not None:
            try:
                depths = self._depths()
            except Exception:
                logger.exception("could not read the queues' depths for the overview")
        self.stats.flush(depths)
        try:
            self.stats.store.roll_up(scheduled_at - ROLL_UP_LAG)
        except Exception:
            logger.exception("could not add a minute's stats into its hour; the day view will miss it")

    def _beat(self) -> None:
        """Record that a tick ran to its end. A failed write only makes health look stale."""
        if self._heartbeat is None:
            return
        try:
            self._heartbeat(self.clock.now())
        except Exception:
            logger.exception("could not record the tick's heartbeat; /api/health will call it late")

    def _learn_pauses(self, store_ids: Iterable[str], paused: dict[str, Pause]) -> None:
        """Add the stores not looked up yet this tick to ``paused``.

        Should the read fail, they count as not paused: what the tick fires then is held by the
        workers' store gate, which reads the pause itself, and a failed read must not stop every
        store's cron jobs.
        """
        if self._pauses is None:
            return
        unknown = {store_id for store_id in store_ids if store_id not in paused}
        if not unknown:
            return
        try:
            paused.update(self._pauses(unknown))
        except Exception:
            logger.exception("could not read %d stores' pauses; their cron jobs fire", len(unknown))
            paused.update(dict.fromkeys(unknown, NOT_PAUSED))

    def _fire(self, cron: CronJob, tick_at: datetime, horizon: datetime, deadline: float) -> Fired | str:
        if self._monotonic() >= deadline:
            return "deferred"
        with context.bound(cron_job_id=cron.id, store_id=cron.store_id, plugin_id=cron.plugin_id):
            return self._fire_bound(cron, tick_at, horizon)

    def _fire_bound(self, cron: CronJob, tick_at: datetime, horizon: datetime) -> Fired | str:
        try:
            return self.crons.fire_due(cron, tick_at, horizon)
        except StaleWriteError:
            return "lost race"
        except Exception:
            logger.exception("cron job %s: tick failed; it is retried next tick", cron.id)
            return "error"

    def requeue_lost_leases(self, now: datetime, paused: dict[str, Pause] | None = None) -> int:
        """Send a fresh message for jobs whose worker vanished and whose message is gone too.

        A dead worker's message normally returns within a lease; this sweep covers the rest (a
        message deleted by hand, or parked in the DLQ while its job still says running). The
        worker that receives the new message reclaims the job through the expired lease.
        """
        cutoff = to_iso(now - timedelta(seconds=LOST_LEASE_GRACE_S))
        found = self.jobs.lost_leases(cutoff, limit=SWEEP_BATCH)
        return self._requeue(self._not_paused(found, paused), "after its lease expired")

    def requeue_unsent(self, now: datetime, paused: dict[str, Pause] | None = None) -> int:
        """Send a message for jobs long overdue that no message seems to carry.

        A job is stored before its message is sent; an API that dies in between (a deploy, a
        crash) leaves a pending job nothing will run. Only queues with no visible message are
        considered: an overdue job behind a backlog is waiting its turn, not lost, and a
        duplicate per job per tick would grow that backlog. A duplicate is harmless otherwise.
        """
        cutoff = to_iso(now - timedelta(seconds=LOST_LEASE_GRACE_S))
        found = self.jobs.overdue_in_idle_queues(cutoff, limit=SWEEP_BATCH)
        return self._requeue(self._not_paused(found, paused), "while overdue")

    def _not_paused(self, found: list[Job], paused: dict[str, Pause] | None) -> list[Job]:
        """``found`` less the jobs of paused stores and plugins.

        Their messages are hidden, not lost, so their queue looks idle and they look overdue: a
        fresh message each tick would pile up copies that each come back every recheck.
        """
        if not found or self._pauses is None:
            return found
        paused = {} if paused is None else paused
        self._learn_pauses((job.store_id for job in found if job.store_id), paused)
        return [job for job in found if not (job.store_id and paused[job.store_id].holds(job.plugin_id))]

    def _requeue(self, found: list[Job], why: str) -> int:
        """A fresh message for each job; one that fails is logged and left for the next tick."""
        requeued = 0
        for job in found:
            try:
                self.jobs.requeue(job)
                requeued += 1
            except Exception:
                logger.exception("job %s: could not re-queue it %s", job.id, why)
        return requeued
