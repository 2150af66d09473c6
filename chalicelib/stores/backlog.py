"""A store's backlog: how many of its jobs wait to run, and the oldest of those now due.

Both reads are bounded. The count is a COUNT query per waiting status on ``by_store_status``
(keys only: about ten thousand jobs a page). The oldest is the first match of ``by_store``
read oldest first, filtered to waiting jobs that are due: the index holds the store's finished
jobs too (for the retention), so a store with many of them older than its oldest waiting job may
use up the page budget first. Past a budget the answer says ``exact: False``: the count is then a
lower bound, and the oldest is the oldest found, or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from chalicelib.clock import from_iso, to_iso
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.store import BY_STORE_INDEX, BY_STORE_STATUS_INDEX

WAITING_STATUSES = (JobStatus.PENDING, JobStatus.RETRYING)
# COUNT pages per waiting status.
MAX_COUNT_PAGES = 3
# Pages of by_store (up to 1 MB each) read looking for the oldest waiting job.
MAX_OLDEST_PAGES = 3


@dataclass(frozen=True)
class OldestWaiting:
    job_id: str
    created_at: str
    # When it became due (its scheduled time, or its next attempt's): it has waited since.
    waiting_since: str


@dataclass(frozen=True)
class Backlog:
    counts: dict[str, int]
    oldest: OldestWaiting | None
    exact: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class StoreBacklog:
    def __init__(self, table: Any) -> None:
        self._table = table

    def read(self, store_id: str, *, now: datetime) -> Backlog:
        counts, counted = _count(self._table, store_id)
        oldest, found = _oldest(self._table, store_id, to_iso(now))
        return Backlog(counts=counts, oldest=oldest, exact=counted and found)


def _count(table: Any, store_id: str) -> tuple[dict[str, int], bool]:
    counts: dict[str, int] = {}
    exact = True
    for status in WAITING_STATUSES:
        request: dict[str, Any] = {
            "IndexName": BY_STORE_STATUS_INDEX,
            "KeyConditionExpression": Key("store_id").eq(store_id) & Key("status").eq(status.value),
            "Select": "COUNT",
        }
        counts[status.value] = 0
        for _ in range(MAX_COUNT_PAGES):
            page = table.query(**request)
            counts[status.value] += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        else:
            exact = False
    return counts, exact


def _oldest(table: Any, store_id: str, now: str) -> tuple[OldestWaiting | None, bool]:
    """The first waiting, due job in creation order, and whether the search was complete."""
    due = Attr("scheduled_at").lte(now) & (Attr("next_attempt_at").not_exists() | Attr("next_attempt_at").lte(now))
    request: dict[str, Any] = {
        "IndexName": BY_STORE_INDEX,
        "KeyConditionExpression": Key("store_id").eq(store_id),
        "FilterExpression": Attr("status").is_in([s.value for s in WAITING_STATUSES]) & due,
        "ProjectionExpression": "#id, created_at, scheduled_at, next_attempt_at",
        "ExpressionAttributeNames": {"#id": "id"},
        "ScanIndexForward": True,
    }
    for _ in range(MAX_OLDEST_PAGES):
        page = table.query(**request)
        for item in page.get("Items", []):
            since = item.get("next_attempt_at") or item["scheduled_at"]
            # A retry's next attempt may be earlier than its first schedule was: take the later.
            since = max(str(since), str(item["scheduled_at"]))
            return OldestWaiting(str(item["id"]), str(item["created_at"]), since), True
        if "LastEvaluatedKey" not in page:
            return None, True
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return None, False


def age_s(oldest: OldestWaiting, now: datetime) -> int:
    return max(0, int((now - from_iso(oldest.waiting_since)).total_seconds()))
