"""Fair sharing between stores, as arithmetic: no AWS, no clock (jobs/../stores/slots.py holds the state).

A store may run at most ``store`` jobs at once, and each of its plugins at most ``plugin``. A
batch's jobs of one store and plugin take what fits; the rest are deferred, each to about when
a slot should free up for it: its place among the store's waiting jobs, over the store's cap,
times how long the store's jobs run. A flood is thus spread over time instead of standing in
the queue in front of every other store's jobs, and each deferred job comes back about once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Deferrals are SQS visibility changes: at least a few seconds (a slot freeing sooner is picked
# up by the next deferral's return), at most 15 minutes (a long wait is a few hops).
MIN_DEFER_S = 2
MAX_DEFER_S = 900
# How much one batch's run time moves the store's mean (an exponentially weighted average).
MEAN_WEIGHT = 0.3
# What a store's jobs are assumed to take before one has run.
FIRST_MEAN_RUN_S = 10.0


@dataclass(frozen=True)
class Caps:
    """Jobs one store, and one plugin within it, may run at once (0: none: the store is paused)."""

    store: int
    plugin: int


def fits(requested: int, *, running: int, plugin_running: int, caps: Caps) -> int:
    """How many of ``requested`` jobs may start now."""
    return max(0, min(requested, caps.store - running, caps.plugin - plugin_running))


def defer_delays(
    count: int, *, waiting: int, cap: int, mean_run_s: float, rng: random.Random, first_free_s: float = 0.0
) -> list[int]:
    """Seconds to defer each of ``count`` jobs that found no slot, behind ``waiting`` already deferred.

    No slot frees before the store's oldest running batch ends (``first_free_s``); after that the
    i-th job waits for about (waiting + i) / cap more runs of the store's jobs. A tenth of jitter
    keeps the deferred jobs of one batch from all returning at the same instant.
    """
    per_slot = max(mean_run_s, 0.1) / max(cap, 1)
    delays = []
    for i in range(count):
        ideal = max(first_free_s, 0.0) + (max(waiting, 0) + i) * per_slot
        delays.append(int(min(MAX_DEFER_S, max(MIN_DEFER_S, ideal * rng.uniform(0.9, 1.1)))))
    return delays


def paused_delays(count: int, *, recheck_s: int, rng: random.Random) -> list[int]:
    """Seconds to hide each of ``count`` jobs of a paused store or plugin: no slot frees while it
    is paused, so there is nothing to estimate; they look again within ``recheck_s``, up to a
    tenth of jitter apart so that a paused flood does not come back all at once."""
    return [int(max(MIN_DEFER_S, recheck_s * rng.uniform(0.9, 1.0))) for _ in range(count)]


def updated_mean(mean_run_s: float | None, sample_s: float) -> float:
    if mean_run_s is None:
        return sample_s
    return (1 - MEAN_WEIGHT) * mean_run_s + MEAN_WEIGHT * sample_s
