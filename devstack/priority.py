"""Which queue a local worker polls first (pure). On AWS each queue has its own Lambda event
source with a concurrency weighted by priority; one local process needs an order instead."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority

# A queue not polled for this long goes first once, so low is slowed by urgent, never starved.
DEFAULT_AGING_S = 30.0


def polling_order(
    now: float, last_polled: Mapping[Priority, float], aging_s: float = DEFAULT_AGING_S
) -> list[Priority]:
    """Strict priority, except that queues starved past ``aging_s`` come first, longest-starved first."""
    starved = [p for p in PRIORITY_ORDER if now - last_polled.get(p, now) >= aging_s]
    starved.sort(key=lambda p: last_polled.get(p, now))
    return starved + [p for p in PRIORITY_ORDER if p not in starved]
