"""When the tick last ran: one item in the jobs table, written by every tick, read by /api/health.

The item (id ``tick#heartbeat``) holds ``last_at`` only: no job attribute, so no index holds it,
and the sweeps, the backfill and the job routes pass it by as they pass the rate-limit counters
and the ``store#`` items. One unconditional PutItem a minute; one GetItem per health check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.clock import from_iso, to_iso

HEARTBEAT_ID = "tick#heartbeat"


class TickHeartbeat:
    def __init__(self, table: Any) -> None:
        self._table = table

    def beat(self, at: datetime) -> None:
        # Unconditional: two ticks racing both ran, and the later write is as true as the earlier.
        self._table.put_item(Item={"id": HEARTBEAT_ID, "last_at": to_iso(at)})

    def last(self) -> datetime | None:
        item = self._table.get_item(Key={"id": HEARTBEAT_ID}).get("Item")
        return from_iso(str(item["last_at"])) if item and item.get("last_at") else None
