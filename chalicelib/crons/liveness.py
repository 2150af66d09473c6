"""Whether the minute tick is running, from when it last ran (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import to_iso

# Three missed minutes: one late tick is not an outage, three in a row are (cron slots go unfired).
TICK_STALE_S = 180


@dataclass(frozen=True)
class TickHealth:
    last_at: str | None  # when the last tick finished (ISO), None if none has
    lag_s: float | None  # seconds since then
    ok: bool

    def view(self) -> dict[str, str | float | None]:
        return {"last_at": self.last_at, "lag_s": self.lag_s}


def tick_health(last_at: datetime | None, now: datetime) -> TickHealth:
    if last_at is None:
        return TickHealth(last_at=None, lag_s=None, ok=False)
    lag_s = round(max(0.0, (now - last_at).total_seconds()), 1)
    return TickHealth(last_at=to_iso(last_at), lag_s=lag_s, ok=lag_s <= TICK_STALE_S)
