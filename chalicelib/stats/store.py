"""The stats items in the jobs table: a few shards per minute, one item per hour, each with a TTL.

``stats#<YYYYMMDDHHMM>#<shard>`` holds what the invocations that wrote in that minute counted.
A writer picks a shard at random, so a busy minute's ADDs spread over ``SHARDS`` key values.
``stats#h#<YYYYMMDDHH>`` holds an hour: the tick adds a finished minute's shards into it once
(the minutes it added are in ``rolled``, the condition that keeps a repeated tick from adding
twice), so the day view reads 24 items rather than 5,760. Neither carries a job attribute, so no
index of the table holds them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure
from chalicelib.stats.counters import Counts, add_into

PREFIX = "stats#"
SHARDS = 4
MINUTE_TTL = timedelta(days=2)
HOUR_TTL = timedelta(days=8)
BATCH_GET_KEYS = 100
BATCH_GET_ROUNDS = 5
# Attributes that are not counters (depths are samples: set, never added).
NOT_COUNTED = frozenset({"id", "expires_at", "rolled"})
DEPTH_PREFIX = "q_"


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def minute_id(minute: datetime, shard: int) -> str:
    return f"{PREFIX}{minute:%Y%m%d%H%M}#{shard}"


def hour_id(hour: datetime) -> str:
    return f"{PREFIX}h#{hour:%Y%m%d%H}"


def _expiry(at: datetime, ttl: timedelta) -> int:
    return int((at + ttl).timestamp())


def counts_of(item: Mapping[str, Any]) -> Counts:
    """An item's counters and depth samples as plain ints."""
    return {
        name: int(value)
        for name, value in item.items()
        if name not in NOT_COUNTED and isinstance(value, (int, Decimal))
    }


class DynamoStats:
    def __init__(self, table: Any, *, shards: int = SHARDS, pick: Callable[[], int] | None = None) -> None:
        self._table = table
        self.shards = shards
        self._pick = pick or (lambda: random.randrange(shards))  # spreads writes; no secret rides on it

    def add(self, at: datetime, counts: Mapping[str, int], depths: Mapping[str, int] | None = None) -> None:
        """One UpdateItem: ``counts`` added into a shard of ``at``'s minute, ``depths`` set on it."""
        minute = minute_of(at)
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expires": _expiry(minute, MINUTE_TTL)}
        adds, sets = [], ["expires_at = if_not_exists(expires_at, :expires)"]
        for i, (name, value) in enumerate(sorted(counts.items())):
            names[f"#c{i}"], values[f":c{i}"] = name, int(value)
            adds.append(f"#c{i} :c{i}")
        for i, (name, value) in enumerate(sorted((depths or {}).items())):
            names[f"#d{i}"], values[f":d{i}"] = name, int(value)
            sets.append(f"#d{i} = :d{i}")
        expression = (f"ADD {', '.join(adds)} " if adds else "") + f"SET {', '.join(sets)}"
        self._table.update_item(
            Key={"id": minute_id(minute, self._pick())},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
        )

    def minutes(self, first: datetime, last: datetime) -> dict[datetime, Counts]:
        """Each minute from ``first`` to ``last`` (included) with its shards summed; absent: no counts."""
        minutes = []
        at = minute_of(first)
        while at <= last:
            minutes.append(at)
            at += timedelta(minutes=1)
        keyed = {minute_id(minute, shard): minute for minute in minutes for shard in range(self.shards)}
        found: dict[datetime, Counts] = {}
        for item in self._batch_get(keyed):
            minute = keyed[str(item["id"])]
            _merge(found.setdefault(minute, {}), counts_of(item))
        return found

    def hours(self, first: datetime, last: datetime) -> dict[datetime, Counts]:
        hours = []
        at = hour_of(first)
        while at <= last:
            hours.append(at)
            at += timedelta(hours=1)
        keyed = {hour_id(hour): hour for hour in hours}
        return {keyed[str(item["id"])]: counts_of(item) for item in self._batch_get(keyed)}

    def roll_up(self, minute: datetime) -> bool:
        """Add ``minute``'s shards into its hour's item, once; False if there was nothing or it was done."""
        minute = minute_of(minute)
        counts = self.minutes(minute, minute).get(minute)
        if not counts:
            return False
        depths = {name: value for name, value in counts.items() if name.startswith(DEPTH_PREFIX)}
        added = {name: value for name, value in counts.items() if name not in depths}
        hour = hour_of(minute)
        stamp = f"{minute:%M}"
        names = {"#rolled": "rolled"}
        values: dict[str, Any] = {":m": stamp, ":ms": {stamp}, ":expires": _expiry(hour, HOUR_TTL)}
        adds = ["#rolled :ms"]
        sets = ["expires_at = if_not_exists(expires_at, :expires)"]
        for i, (name, value) in enumerate(sorted(added.items())):
            names[f"#c{i}"], values[f":c{i}"] = name, value
            adds.append(f"#c{i} :c{i}")
        # The hour keeps the depths of its latest minute rolled: a sample, not a sum.
        for i, (name, value) in enumerate(sorted(depths.items())):
            names[f"#d{i}"], values[f":d{i}"] = name, value
            sets.append(f"#d{i} = :d{i}")
        try:
            self._table.update_item(
                Key={"id": hour_id(hour)},
                UpdateExpression=f"ADD {', '.join(adds)} SET {', '.join(sets)}",
                ConditionExpression="attribute_not_exists(#rolled) OR NOT contains(#rolled, :m)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def _batch_get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = list(ids)
        client = self._table.meta.client  # the resource's client: plain Python values in and out
        items: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys: list[dict[str, Any]] = [{"id": key} for key in wanted[start : start + BATCH_GET_KEYS]]
            for _ in range(BATCH_GET_ROUNDS):
                answer = client.batch_get_item(RequestItems={self._table.name: {"Keys": keys}})
                items.extend(answer.get("Responses", {}).get(self._table.name, []))
                keys = answer.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise RuntimeError(f"{len(keys)} stats items unread after {BATCH_GET_ROUNDS} rounds")
        return items


def _merge(total: Counts, more: Counts) -> None:
    # Depths are one writer's sample (the tick's): the largest shard value is it.
    for name, value in more.items():
        if name.startswith(DEPTH_PREFIX):
            total[name] = max(total.get(name, 0), value)
        else:
            add_into(total, {name: value})
