"""The counters of one minute: their attribute names, and a batch's tally of them in memory.

A worker batch (or a tick, or an API request) adds to a ``Tally`` as its jobs start and end,
then writes what it gathered with one UpdateItem. Names are flat attributes, since DynamoDB's
ADD cannot create a nested map's parent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from chalicelib.stats.histogram import bucket_of

OUTCOMES = ("completed", "failed", "cancelled", "retried")
PRIORITIES = ("urgent", "high", "normal", "low")
# A type no registry knows is counted under this, so the names stay bounded.
OTHER_TYPE = "other"

WAIT = "w"
LATENESS = "l"


def outcome_name(outcome: str) -> str:
    return f"n_{outcome}"


def bucket_name(histogram: str, bucket: int) -> str:
    return f"{histogram}_{bucket:02d}"


def run_sum_name(job_type: str) -> str:
    return f"rt_ms|{job_type}"


def run_count_name(job_type: str) -> str:
    return f"rt_n|{job_type}"


def depth_name(priority: str) -> str:
    return f"q_{priority}"


Counts = dict[str, int]


def add_into(total: Counts, more: Mapping[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + int(value)


def histogram_of(counts: Mapping[str, int], histogram: str) -> dict[int, int]:
    """bucket -> count of one histogram among ``counts``."""
    prefix = f"{histogram}_"
    return {int(name[len(prefix) :]): int(value) for name, value in counts.items() if name.startswith(prefix)}


def run_times_of(counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """type -> (sum of run milliseconds, runs)."""
    found: dict[str, tuple[int, int]] = {}
    for name, value in counts.items():
        if name.startswith("rt_n|"):
            job_type = name.removeprefix("rt_n|")
            found[job_type] = (int(counts.get(run_sum_name(job_type), 0)), int(value))
    return found


class Tally:
    """Thread-safe: a batch's records run side by side. ``take`` empties it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counts = {}

    def _add(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + value

    def outcome(self, outcome: str) -> None:
        self._add(outcome_name(outcome))

    def wait(self, seconds: float) -> None:
        self._add(bucket_name(WAIT, bucket_of(seconds)))

    def run(self, job_type: str, seconds: float) -> None:
        with self._lock:
            for name, value in ((run_sum_name(job_type), round(seconds * 1000)), (run_count_name(job_type), 1)):
                self._counts[name] = self._counts.get(name, 0) + value

    def lateness(self, seconds_each: Iterable[float]) -> None:
        for seconds in seconds_each:
            self._add(bucket_name(LATENESS, bucket_of(seconds)))

    def take(self) -> Counts:
        with self._lock:
            counts, self._counts = self._counts, {}
        return {name: value for name, value in counts.items() if value}
