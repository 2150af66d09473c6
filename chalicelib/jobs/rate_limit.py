"""Jobs scheduled per store per minute, counted in DynamoDB so every API container shares the count.

One counter item per store and minute lives in the jobs table (``id = ratelimit#<store>#<minute>``,
no status, so no index sees it; DynamoDB's TTL removes it). Counting every request exactly costs
an UpdateItem per scheduled job, a 20 % rise in a job's bill; so when the limit is high a container
adds its requests in batches of up to ``MAX_BATCH``, and the limit may be overshot by at most one
batch per container. Under 100 a minute the count is exact: one conditional ADD per request.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure, old_item
from chalicelib.clock import Clock
from chalicelib.errors import TooManyRequestsError

KEY_PREFIX = "ratelimit#"
MAX_BATCH = 10
COUNTER_TTL_S = 180


def batch_size(limit: int) -> int:
    """How many requests a container may admit before adding them to the shared count."""
    return max(1, min(MAX_BATCH, limit // 50))


class ScheduleRateLimiter:
    def __init__(self, table: Any, clock: Clock, *, per_minute: int) -> None:
        self._table = table
        self._clock = clock
        self.per_minute = per_minute
        self._batch = batch_size(per_minute)
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # counter key -> admitted here, not yet added
        self._known: dict[str, int] = {}  # counter key -> shared count at our last add

    def admit(self, store_id: str) -> None:
        """Count one scheduled job for ``store_id``, or raise 429 if its minute is full."""
        if self.per_minute <= 0:
            return
        now = self._clock.now()
        key = f"{KEY_PREFIX}{store_id}#{now:%Y%m%d%H%M}"
        if self._batch == 1:
            self._add_exactly_one(key, now, store_id)
            return
        with self._lock:
            self._forget_other_minutes(key)
            if self._known.get(key, 0) + self._pending.get(key, 0) >= self.per_minute:
                raise self._full(store_id, now)
            self._pending[key] = self._pending.get(key, 0) + 1
            to_add = self._pending[key] if self._pending[key] >= self._batch else 0
            if to_add:
                self._pending[key] = 0
        if to_add:
            total = self._add(key, to_add, now)
            with self._lock:
                self._known[key] = total

    def admit_spread(self, store_id: str, count: int, *, minutes: int) -> list[int]:
        """Count ``count`` jobs at once (a batch) in this minute and, for what does not fit, the
        next ones: how many each minute admits, this minute first. The jobs past the first
        minute's share are to start in their minute; a batch is never refused for being larger
        than what is left of a minute. 429 when they do not fit in ``minutes`` minutes (what was
        counted is given back). One conditional ADD per minute used, plus one per minute found
        fuller than read.
        """
        if self.per_minute <= 0 or count <= 0:
            return [count]
        now = self._clock.now()
        if count > self.per_minute * minutes:
            raise self._full(store_id, now, asked=count, minutes=minutes)
        shares: list[int] = []
        left = count
        for offset in range(minutes):
            minute = now + timedelta(minutes=offset)
            taken = self._take_up_to(f"{KEY_PREFIX}{store_id}#{minute:%Y%m%d%H%M}", left, minute)
            shares.append(taken)
            left -= taken
            if left == 0:
                return shares
        for offset, taken in enumerate(shares):
            if taken:
                minute = now + timedelta(minutes=offset)
                self._add(f"{KEY_PREFIX}{store_id}#{minute:%Y%m%d%H%M}", -taken, minute)
        raise self._full(store_id, now, asked=count, minutes=minutes)

    def _take_up_to(self, key: str, wanted: int, minute: datetime) -> int:
        """Up to ``wanted`` of the minute's room, in conditional ADDs (a race re-reads the room)."""
        room = min(wanted, self.per_minute)
        while room > 0:
            try:
                self._table.update_item(
                    Key={"id": key},
                    UpdateExpression="ADD #count :n SET expires_at = if_not_exists(expires_at, :expires)",
                    ConditionExpression="attribute_not_exists(#count) OR #count <= :room",
                    ExpressionAttributeNames={"#count": "count"},
                    ExpressionAttributeValues={
                        ":n": room,
                        ":room": self.per_minute - room,
                        ":expires": _expiry(minute),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return room
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                counted = int((old_item(exc) or {}).get("count", 0))
                room = min(wanted, self.per_minute - counted)
        return 0

    def _add_exactly_one(self, key: str, now: datetime, store_id: str) -> None:
        try:
            self._table.update_item(
                Key={"id": key},
                UpdateExpression="ADD #count :one SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": 1, ":limit": self.per_minute, ":expires": _expiry(now)},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise self._full(store_id, now) from None
            raise

    def _add(self, key: str, amount: int, now: datetime) -> int:
        answer = self._table.update_item(
            Key={"id": key},
            UpdateExpression="ADD #count :amount SET expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":amount": amount, ":expires": _expiry(now)},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["count"])

    def _forget_other_minutes(self, key: str) -> None:
        for stale in [k for k in self._known.keys() | self._pending.keys() if k != key]:
            self._known.pop(stale, None)
            self._pending.pop(stale, None)

    def _full(self, store_id: str, now: datetime, *, asked: int = 1, minutes: int = 1) -> TooManyRequestsError:
        retry_after = 60 - now.second
        if asked > 1:
            return TooManyRequestsError(
                f"{asked} jobs at once do not fit in what store {store_id!r} may schedule in the next "
                f"{minutes} minutes ({self.per_minute} a minute); try again in {retry_after} s.",
                code="rate_limited",
                details=[{"field": "jobs", "message": f"at most {self.per_minute} jobs a minute"}],
            )
        return TooManyRequestsError(
            f"Store {store_id!r} has scheduled {self.per_minute} jobs this minute, its limit; "
            f"try again in {retry_after} s.",
            code="rate_limited",
            details=[{"field": "store_id", "message": f"at most {self.per_minute} jobs a minute"}],
        )


def _expiry(now: datetime) -> int:
    return int(now.timestamp()) + COUNTER_TTL_S
