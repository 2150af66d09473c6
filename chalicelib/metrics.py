"""Metrics in CloudWatch's embedded metric format (EMF): gathered in memory, written once per invocation.

A worker batch, a tick run and an API request each end with ``flush()``, which writes one JSON
line per group of metrics that share their dimensions to stdout, where Lambda's log group
takes it and CloudWatch extracts the metrics. Nothing is written per record, and nothing at all
when an invocation recorded nothing. Powertools serializes the documents (docs/operations.md
says why it was chosen and what it costs at cold start).

Dimensions stay few: the stage, a priority, a job type (only registered types, see
``type_dimension``), a reason from a fixed list. A store is a property of the document, never a
dimension: a document that sums the jobs of several stores names them in ``store_ids``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

DEFAULT_NAMESPACE = "Tickwork"
STAGE_DIMENSION = "Stage"
# A type no registry holds (a removed plugin's) is counted under this, never under its own name.
UNREGISTERED_TYPE = "unregistered"
# EMF takes at most 100 values of one metric per document; Powertools writes a document by itself
# when a metric reaches 100, so a chunk stays one short of that.
MAX_VALUES = 99
# A document summing many stores' jobs names at most this many of them.
MAX_STORE_IDS = 50


class Unit(StrEnum):
    COUNT = "Count"
    SECONDS = "Seconds"
    MILLISECONDS = "Milliseconds"


class Metric(StrEnum):
    """Every metric tickwork writes (docs/operations.md lists their units and dimensions)."""

    JOBS_SCHEDULED = "JobsScheduled"
    JOBS_STARTED = "JobsStarted"
    JOBS_SUCCEEDED = "JobsSucceeded"
    JOBS_FAILED = "JobsFailed"
    JOBS_RETRIED = "JobsRetried"
    JOBS_CANCELLED = "JobsCancelled"
    JOBS_ABANDONED = "JobsAbandoned"
    JOBS_EXPIRED = "JobsExpired"
    MESSAGES_DEAD_LETTERED = "MessagesDeadLettered"
    WAIT_TIME = "JobWaitTime"
    RUN_TIME = "JobRunTime"
    RATE_LIMIT_REFUSALS = "RateLimitRefusals"
    TICKS = "Ticks"
    TICK_DURATION = "TickDuration"
    SLOTS_FIRED = "SlotsFired"
    CRON_JOBS_DUE = "CronJobsDue"
    CRON_JOBS_DEFERRED = "CronJobsDeferred"
    TICK_ERRORS = "TickErrors"
    CRON_FIRING_LATENESS = "CronFiringLateness"


UNITS: dict[Metric, Unit] = {
    Metric.WAIT_TIME: Unit.SECONDS,
    Metric.RUN_TIME: Unit.SECONDS,
    Metric.CRON_FIRING_LATENESS: Unit.SECONDS,
    Metric.TICK_DURATION: Unit.MILLISECONDS,
}


def unit_of(metric: Metric) -> Unit:
    return UNITS.get(metric, Unit.COUNT)


DimensionSets = tuple[tuple[tuple[str, str], ...], ...]


def type_dimension(job_type: str, registered: Callable[[str], bool]) -> str:
    """A job type as a dimension: built-in names and ``plugin:<name>:<type>`` as registered, so the
    registry bounds them; anything else (a type no longer registered) as one shared value."""
    return job_type if registered(job_type) else UNREGISTERED_TYPE


@dataclass
class _Group:
    counts: dict[Metric, float] = field(default_factory=dict)
    values: dict[Metric, list[float]] = field(default_factory=dict)
    store_ids: set[str] = field(default_factory=set)


def _stdout(line: str) -> None:
    # Looked up at each write: a test's capture, or Lambda's log stream.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Metrics:
    """Thread-safe: the records of one batch run side by side; ``flush`` takes what was gathered."""

    def __init__(
        self,
        *,
        stage: str,
        namespace: str = DEFAULT_NAMESPACE,
        enabled: bool = True,
        write: Callable[[str], None] = _stdout,
    ) -> None:
        self.stage = stage
        self.namespace = namespace
        self.enabled = enabled
        self._write = write
        self._lock = threading.Lock()
        self._groups: dict[DimensionSets, _Group] = {}

    def count(self, metric: Metric, *by: Mapping[str, str], value: float = 1, store_id: str | None = None) -> None:
        """Add ``value`` to a count; ``by`` are its dimension sets (the stage joins each; none: the stage alone)."""
        if not self.enabled:
            return
        with self._lock:
            group = self._group(by, store_id)
            group.counts[metric] = group.counts.get(metric, 0) + value

    def observe(self, metric: Metric, value: float, *by: Mapping[str, str], store_id: str | None = None) -> None:
        """One sample of a distribution (a time): kept as is, so CloudWatch gives its percentiles."""
        if not self.enabled:
            return
        with self._lock:
            self._group(by, store_id).values.setdefault(metric, []).append(float(value))

    def _group(self, by: Iterable[Mapping[str, str]], store_id: str | None) -> _Group:
        sets = tuple(tuple(sorted(dimensions.items())) for dimensions in by) or ((),)
        group = self._groups.setdefault(sets, _Group())
        if store_id:
            group.store_ids.add(store_id)
        return group

    def flush(self) -> list[dict[str, Any]]:
        """Write what was gathered since the last flush, one document per group; returns the documents."""
        with self._lock:
            groups, self._groups = self._groups, {}
        documents = [document for sets, group in groups.items() for document in self._documents(sets, group)]
        for document in documents:
            self._write(json.dumps(document, separators=(",", ":")))
        return documents

    def _documents(self, sets: DimensionSets, group: _Group) -> list[dict[str, Any]]:
        # Counts are summed (read them with the Sum statistic); samples go 100 to a document.
        chunks: list[dict[Metric, list[float]]] = [{metric: [total] for metric, total in group.counts.items()}]
        for metric, values in group.values.items():
            for i, start in enumerate(range(0, len(values), MAX_VALUES)):
                if i >= len(chunks):
                    chunks.append({})
                chunks[i][metric] = values[start : start + MAX_VALUES]
        return [self._serialize(sets, chunk, group.store_ids) for chunk in chunks if chunk]

    def _serialize(self, sets: DimensionSets, chunk: dict[Metric, list[float]], store_ids: set[str]) -> dict[str, Any]:
        provider = AmazonCloudWatchEMFProvider(namespace=self.namespace)
        first, *rest = sets
        provider.add_dimension(STAGE_DIMENSION, self.stage)
        for name, value in first:
            provider.add_dimension(name, value)
        for dimensions in rest:
            provider.add_dimensions(**{STAGE_DIMENSION: self.stage, **dict(dimensions)})
        if len(store_ids) == 1:
            provider.add_metadata("store_id", next(iter(store_ids)))
        elif store_ids:
            provider.add_metadata("store_ids", sorted(store_ids)[:MAX_STORE_IDS])
            provider.add_metadata("store_count", len(store_ids))
        for metric, values in chunk.items():
            for value in values:
                provider.add_metric(name=metric.value, unit=unit_of(metric).value, value=value)
        return dict(provider.serialize_metric_set())
