"""Percentiles from bucket counts, and the series of a window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.stats.counters import Tally
from chalicelib.stats.histogram import BOUNDS_S, bucket_of, percentile
from chalicelib.stats.series import WINDOWS, point


def test_a_percentile_is_the_upper_bound_of_the_bucket_its_rank_falls_in() -> None:
    counts: dict[int, int] = {}
    for seconds in range(1, 101):
        counts[bucket_of(seconds)] = counts.get(bucket_of(seconds), 0) + 1
    assert percentile(counts, 0.5) == 60.0
    assert percentile(counts, 0.95) == 150.0
    assert percentile({}, 0.5) is None
    assert percentile({bucket_of(10_000): 1}, 0.5) == BOUNDS_S[-1]


def test_a_point_reads_outcomes_failure_rate_and_mean_run_times() -> None:
    tally = Tally()
    for outcome in ("completed", "completed", "completed", "failed", "retried"):
        tally.outcome(outcome)
    tally.run("email", 1.0)
    tally.run("email", 2.0)
    shown = point(datetime(2026, 1, 1, tzinfo=UTC), tally.take())
    assert shown["outcomes"] == {"completed": 3, "failed": 1, "cancelled": 0, "retried": 1}
    assert shown["failure_rate"] == 0.25
    assert shown["run_mean_s"] == {"email": 1.5}
    assert (WINDOWS["hour"].points, WINDOWS["day"].points) == (60, 24)
