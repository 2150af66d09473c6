"""The minute tick. Cron evaluation arrives with the "Cron jobs" issue; the hook and its
clock are wired now so the embedded stack and Lambda already call it every minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TickReport:
    at: datetime
    fired: int = 0


def run_tick(now: datetime) -> TickReport:
    return TickReport(at=now)
