"""The overview's series, from the counters of each minute (hour window) or hour (day window)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import to_iso
from chalicelib.stats.counters import (
    LATENESS,
    OUTCOMES,
    PRIORITIES,
    WAIT,
    Counts,
    depth_name,
    histogram_of,
    outcome_name,
    run_times_of,
)
from chalicelib.stats.histogram import percentile


@dataclass(frozen=True)
class Window:
    name: str
    step: timedelta
    points: int


WINDOWS = {
    "hour": Window("hour", timedelta(minutes=1), 60),
    "day": Window("day", timedelta(hours=1), 24),
}


def point_times(window: Window, now: datetime) -> list[datetime]:
    """The start of each point, oldest first; the last is the step ``now`` falls in."""
    if window.step >= timedelta(hours=1):
        last = now.replace(minute=0, second=0, microsecond=0)
    else:
        last = now.replace(second=0, microsecond=0)
    return [last - window.step * (window.points - 1 - i) for i in range(window.points)]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def point(at: datetime, counts: Mapping[str, int]) -> dict[str, Any]:
    outcomes = {outcome: int(counts.get(outcome_name(outcome), 0)) for outcome in OUTCOMES}
    ended = outcomes["completed"] + outcomes["failed"]
    waits, lateness = histogram_of(counts, WAIT), histogram_of(counts, LATENESS)
    runs = run_times_of(counts)
    return {
        "at": to_iso(at),
        "outcomes": outcomes,
        # Of the jobs that ended for good, completed or failed; retries and cancels are neither.
        "failure_rate": _rounded(outcomes["failed"] / ended) if ended else None,
        "wait_p50_s": percentile(waits, 0.5),
        "wait_p95_s": percentile(waits, 0.95),
        "lateness_p50_s": percentile(lateness, 0.5),
        "lateness_p95_s": percentile(lateness, 0.95),
        "run_mean_s": {job_type: round(total_ms / n / 1000, 3) for job_type, (total_ms, n) in runs.items() if n},
        "queue_depth": {p: int(counts[depth_name(p)]) for p in PRIORITIES if depth_name(p) in counts},
    }


def overview(window: Window, now: datetime, by_time: Mapping[datetime, Counts]) -> dict[str, Any]:
    points = [point(at, by_time.get(at, {})) for at in point_times(window, now)]
    types = sorted({job_type for p in points for job_type in p["run_mean_s"]})
    return {"window": window.name, "step_s": int(window.step.total_seconds()), "types": types, "points": points}
