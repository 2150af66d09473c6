"""Retry delays (pure). The guide promises retries at 5 s, 30 s and 5 min; later ones stay at the last step."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

DEFAULT_BACKOFF_S: tuple[int, ...] = (5, 30, 300)


def compute_backoff(
    retry_number: int,
    schedule_s: Sequence[int] = DEFAULT_BACKOFF_S,
    *,
    jitter_ratio: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> int:
    """Seconds to wait before retry ``retry_number`` (1 for the first retry).

    Jitter, when asked for, only lengthens the wait (up to ``jitter_ratio`` of it), so the
    guide's minimum delays still hold while a burst of failures spreads out.
    """
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    if not schedule_s:
        return 0
    base = schedule_s[min(retry_number, len(schedule_s)) - 1]
    return int(base + base * jitter_ratio * rand())


def parse_schedule(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of seconds, e.g. ``"5,30,300"``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = tuple(int(p) for p in parts)
    if any(v < 0 for v in values):
        raise ValueError("backoff steps must not be negative")
    return values
