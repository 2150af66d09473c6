"""Fixed, log-spaced buckets of seconds, and percentiles read back from their counts.

Counters can be added by many writers with DynamoDB's ADD; samples cannot. So a time is kept as
the count of its bucket, and a percentile is answered as the upper bound of the bucket its rank
falls in: never lower than the true value, at most one bucket (about 2.5x) above it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

# Upper bounds in seconds; a time above the last falls in the overflow bucket.
BOUNDS_S: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    60.0,
    150.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)
OVERFLOW = len(BOUNDS_S)


def bucket_of(seconds: float) -> int:
    """The index of the bucket ``seconds`` falls in (a bound belongs to its own bucket)."""
    return bisect.bisect_left(BOUNDS_S, max(0.0, seconds))


def bound_of(bucket: int) -> float:
    """What a percentile in ``bucket`` answers: its upper bound (the overflow: the last bound)."""
    return BOUNDS_S[min(bucket, OVERFLOW - 1)]


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of the times counted in ``counts`` (bucket -> count); None if none."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bound_of(bucket)
    return bound_of(OVERFLOW)
