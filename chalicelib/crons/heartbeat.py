"""When the tick last ran: one item in the jobs table, written by every tick, read by /api/health.

The item (id ``tick#heartbeat``) holds ``last_at`` only: no job attribute, so no index holds it,
and the sweeps, the backfill and the job routes pass it by as they pass the rate-limit counters
and the ``store#`` items. One unconditional PutItem a minute.

Health needs no token, so what it reads is kept per container for ``cache_s``: at most one
GetItem per container per interval, however many callers knock (the bill stays ours to set),
and an unreachable table costs one failed read per interval, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.clock import from_iso, to_iso

HEARTBEAT_ID = "tick#heartbeat"
READ_CACHE_S = 10.0


class HeartbeatUnreadableError(Exception):
    """The last read failed (logged then); health says the tick is unknown until the next read."""


class TickHeartbeat:
    def __init__(
        self, table: Any, *, cache_s: float = READ_CACHE_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._table = table
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # (when read, what was read, whether the read failed)
        self._cached: tuple[float, datetime | None, bool] | None = None

    def beat(self, at: datetime) -> None:
        # Unconditional: two ticks racing both ran, and the later write is as true as the earlier.
        self._table.put_item(Item={"id": HEARTBEAT_ID, "last_at": to_iso(at)})
        with self._lock:
            self._cached = (self._monotonic(), at, False)

    def last(self) -> datetime | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cached
        if cached is not None and now - cached[0] < self._cache_s:
            if cached[2]:
                raise HeartbeatUnreadableError()
            return cached[1]
        try:
            item = self._table.get_item(Key={"id": HEARTBEAT_ID}).get("Item")
        except Exception:
            with self._lock:
                self._cached = (now, None, True)
            raise
        last_at = from_iso(str(item["last_at"])) if item and item.get("last_at") else None
        with self._lock:
            self._cached = (now, last_at, False)
        return last_at
