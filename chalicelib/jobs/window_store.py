"""The window items of debounce and dedup (jobs/windows.py), kept in the jobs table.

One small item per window key (``debounce#<store>#<hash>``, ``dedup#<store>#<hash>``): it names
the job the window answers with. It has no ``store_id``, ``status`` nor ``cron_job_id``, so no
index of the table sees it, and its ``expires_at`` lets DynamoDB's TTL remove it. Items are only
written in one transaction with the job they name (``DynamoJobStore.create(along=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.clock import from_iso


@dataclass(frozen=True)
class WindowItem:
    """A window as stored: the job it answers with, when it opened, and when it closes (dedup)."""

    item_id: str
    job_id: str
    opened_at: str
    until: str | None = None


class DynamoWindowStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, item_id: str) -> WindowItem | None:
        # Consistent: a window opened a moment ago by another API instance must be seen.
        item = self._table.get_item(Key={"id": item_id}, ConsistentRead=True).get("Item")
        if not item or "job_id" not in item:
            return None
        return WindowItem(
            item_id=item_id, job_id=item["job_id"], opened_at=item["opened_at"], until=item.get("window_until")
        )

    def debounce_put(
        self, item_id: str, *, job_id: str, opened_at: str, keep_until: str, replacing: str | None
    ) -> dict:
        """The transaction Put that opens a debounce window for ``job_id``.

        Race prevented: two API instances opening the same window at once. Only the first finds
        the item absent (or still naming the started job ``replacing`` it read); the other's
        transaction is refused and it collapses into the winner's job instead.
        """
        condition = "attribute_not_exists(id)" if replacing is None else "job_id = :replacing"
        values = {":replacing": replacing} if replacing is not None else None
        return self._put(item_id, {"job_id": job_id, "opened_at": opened_at}, keep_until, condition, values)

    def dedup_put(self, item_id: str, *, job_id: str, opened_at: str, until: str, keep_until: str) -> dict:
        """The transaction Put that opens a dedup window until ``until``.

        An expired window's item is replaced in the same conditional write (absent, or its
        window ended by ``opened_at``): two schedules after the end cannot both open one.
        """
        condition = "attribute_not_exists(id) OR window_until <= :now"
        fields = {"job_id": job_id, "opened_at": opened_at, "window_until": until}
        return self._put(item_id, fields, keep_until, condition, {":now": opened_at})

    def _put(
        self,
        item_id: str,
        fields: dict[str, Any],
        keep_until: str,
        condition: str,
        values: dict[str, Any] | None,
    ) -> dict:
        put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": {"id": item_id, **fields, "expires_at": int(from_iso(keep_until).timestamp())},
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
        return put
