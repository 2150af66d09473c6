"""A job's metrics: its type and priority as dimensions, its store as a property (chalicelib/metrics.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.clock import from_iso
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import Job
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.metrics import Metric, Metrics, type_dimension
from chalicelib.stats.counters import OTHER_TYPE
from chalicelib.stats.recorder import StatsRecorder

# How each recorded end of an attempt is counted.
OUTCOMES: dict[JobStatus, Metric] = {
    JobStatus.COMPLETED: Metric.JOBS_SUCCEEDED,
    JobStatus.FAILED: Metric.JOBS_FAILED,
    JobStatus.RETRYING: Metric.JOBS_RETRIED,
    JobStatus.CANCELLED: Metric.JOBS_CANCELLED,
    JobStatus.EXPIRED: Metric.JOBS_EXPIRED,
}
# The overview's outcome counters (chalicelib/stats/), fed by the same calls as the metrics.
STATS_OUTCOMES: dict[Metric, str] = {
    Metric.JOBS_SUCCEEDED: "completed",
    Metric.JOBS_FAILED: "failed",
    Metric.JOBS_RETRIED: "retried",
    Metric.JOBS_CANCELLED: "cancelled",
}


class JobMetrics:
    def __init__(self, metrics: Metrics, registry: JobTypeRegistry, stats: StatsRecorder | None = None) -> None:
        self.metrics = metrics
        self.registry = registry
        self.stats = stats  # the overview's counters: written by the same flush, one UpdateItem

    def _by(self, job: Job) -> tuple[Mapping[str, str], Mapping[str, str]]:
        # Two rollups: by type (failure rates, run times) and by priority (waits, queue health).
        return {"Type": type_dimension(job.type, self.registry.knows)}, {"Priority": job.priority.value}

    def count(self, metric: Metric, job: Job) -> None:
        self.metrics.count(metric, *self._by(job), store_id=job.store_id)
        if self.stats is not None and metric in STATS_OUTCOMES:
            self.stats.tally.outcome(STATS_OUTCOMES[metric])

    def started(self, job: Job) -> None:
        """A claimed attempt about to run (``job`` as claimed); a continuation of one is not counted.

        The wait is measured for first attempts, from the job's schedule: the claim drops a
        retry's due time, and a retry's wait is mostly its backoff anyway.
        """
        if job.started_at is None or job.started_at != job.attempt_started_at:
            return
        self.count(Metric.JOBS_STARTED, job)
        if job.attempts == 1:
            wait_s = max(0.0, (from_iso(job.started_at) - from_iso(job.scheduled_at)).total_seconds())
            self.metrics.observe(Metric.WAIT_TIME, wait_s, *self._by(job), store_id=job.store_id)
            if self.stats is not None:
                self.stats.tally.wait(wait_s)

    def ended(self, job: Job, now: datetime | None = None, started_at: str | None = None) -> None:
        """An attempt's recorded end (``job`` as written): its outcome, and how long it ran when it
        ran here from ``started_at`` (the finish drops the attempt's start from the item)."""
        metric = OUTCOMES.get(job.status)
        if metric is None:
            return
        self.count(metric, job)
        if now is not None and started_at is not None:
            run_s = max(0.0, (now - from_iso(started_at)).total_seconds())
            self.metrics.observe(Metric.RUN_TIME, run_s, *self._by(job), store_id=job.store_id)
            if self.stats is not None:
                # Only registered types name a counter: the item's attributes stay bounded.
                self.stats.tally.run(job.type if self.registry.knows(job.type) else OTHER_TYPE, run_s)

    def parked(self, priority: str) -> None:
        """A message forwarded to its dead-letter queue (unreadable, or its job is gone): no job to name."""
        self.metrics.count(Metric.MESSAGES_DEAD_LETTERED, {"Priority": priority})

    def flush(self) -> None:
        """The end of a worker batch: the EMF lines, and the overview's counters in one UpdateItem."""
        self.metrics.flush()
        if self.stats is not None:
            self.stats.flush()
