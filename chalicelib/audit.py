"""Who did what to a job or cron job, and when: a short trail kept on the item itself (pure).

Kept on the item, written in the same conditional write as the change it records, so the trail
can never disagree with the state. Bounded: the newest ``MAX_AUDIT_ENTRIES`` stay.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_AUDIT_ENTRIES = 50


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str  # created, updated, changed, paused, resumed, ran, cancelled, retried...
    by: str  # the principal: "admin:alice", "store_owner:owner-a", "plugin:plugin-p", "cron:<id>"
    at: str
    detail: str | None = None


def appended(trail: list[AuditEntry], action: str, by: str, at: str, detail: str | None = None) -> list[dict[str, Any]]:
    """The trail with one more entry, as stored (plain maps), newest last."""
    entries = [entry.model_dump(exclude_none=True) for entry in trail]
    entries.append(AuditEntry(action=action, by=by, at=at, detail=detail).model_dump(exclude_none=True))
    return entries[-MAX_AUDIT_ENTRIES:]
