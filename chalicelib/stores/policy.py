"""Fair sharing between stores, as arithmetic: no AWS, no clock (jobs/../stores/slots.py holds the state).

A store may run at most ``store`` jobs at once, and each of its plugins at most ``plugin``. A
batch's jobs of one store and plugin take what fits; the rest are deferred, each to about when
a slot should free up for it: its place among the store's waiting jobs, over the store's cap,
times how long the store's jobs run, in groups of a batch. A flood is thus spread over time
instead of standing in the queue in front of every other store's jobs, and each deferred job
comes back about once, with the others of its group.
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
# Deferred jobs come back in groups of an SQS batch (Lambda's ten): a job returning alone would
# cost a receive, a take, a release and a delete of its own.
DEFER_GROUP = 10


@dataclass(frozen=True)
class Caps:
    """Jobs one store, and one plugin within it, may run at once (0: none: the store is paused)."""

    store: int
    plugin: int


def fits(requested: int, *, running: int, plugin_running: int, caps: Caps) -> int:
    """How many of ``requested`` jobs may start now."""
    return max(0, min(requested, caps.store - running, caps.plugin - plugin_running))


def defer_delays(
    count: int,
    *,
    waiting: int,
    cap: int,
    mean_run_s: float,
    rng: random.Random,
    first_free_s: float = 0.0,
    group: int = DEFER_GROUP,
) -> list[int]:
    """Seconds to defer each of ``count`` jobs that found no slot, behind ``waiting`` already deferred.

    No slot frees before the store's oldest running batch ends (``first_free_s``); after that a
    slot frees every mean run over the cap. The waiting line is cut into groups of ``group``
    places, and a group comes back together when its last place should have a slot: one receive
    and one take for the group, and none of it deferred again for want of room. Jitter (a tenth)
    is drawn per group, so a group stays together while groups do not all return at one instant.
    """
    per_slot = max(mean_run_s, 0.1) / max(cap, 1)
    group = max(group, 1)
    jitter: dict[int, float] = {}
    delays = []
    for i in range(count):
        block = (max(waiting, 0) + i) // group
        if block not in jitter:
            jitter[block] = rng.uniform(0.9, 1.1)
        last_place = block * group + group - 1
        ideal = max(first_free_s, 0.0) + last_place * per_slot
        delays.append(int(min(MAX_DEFER_S, max(MIN_DEFER_S, ideal * jitter[block]))))
    return delays


def paused_delays(count: int, *, recheck_s: int, rng: random.Random, group: int = DEFER_GROUP) -> list[int]:
    """Seconds to hide each of ``count`` jobs of a paused store or plugin: no slot frees while it
    is paused, so there is nothing to estimate; they look again within ``recheck_s``, groups of
    ``group`` up to a tenth of jitter apart, so that a paused flood does not come back all at once
    nor one job at a time."""
    group = max(group, 1)
    factors = [rng.uniform(0.9, 1.0) for _ in range(-(-count // group))]
    return [int(max(MIN_DEFER_S, recheck_s * factors[i // group])) for i in range(count)]


def updated_mean(mean_run_s: float | None, sample_s: float) -> float:
    if mean_run_s is None:
        return sample_s
    return (1 - MEAN_WEIGHT) * mean_run_s + MEAN_WEIGHT * sample_s
