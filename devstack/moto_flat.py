"""Keeps a long-running moto's memory and per-request cost flat as its tables and queues fill.

Three of moto's habits make a burst cost the square of its size:

- Every model object it creates is appended to a class-wide list (``instances_tracked``, read by
  its dashboard and cleared only by a reset). moto copies a DynamoDB item on every UpdateItem and
  every item a Query returns, and an SQS message on every ReceiveMessage: each copy is kept for
  good. Items and messages are left out of that list here; nothing of ours reads it.
- TransactWriteItems deep-copies each whole table it touches, to roll back on failure. The cost is
  the table's size on every call, under the request lock (devstack/moto_lock.py), so one
  transaction stalls every other request; with the tracking above, each copy was kept too. Here a
  transaction saves only the items it names, and restores those if it is cancelled.
- SQS recounts a queue's messages (three passes, each message asking a slow clock) whenever it
  reads any queue attribute: once per message sent, nine times per message received. 1,500
  queued messages made a SendMessageBatch or a ReceiveMessage take most of a second. Here those
  two read their attribute without the counts, and the clock is ``time.time``.

And one per-request cost of its server: to route a request it lists moto's package folder (a
stat per service) and tries every service's URL patterns, under a lock all requests share. The
answer for a host never changes, so it is remembered.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_shallow = threading.local()  # set while a transaction runs: its tables are not copied
_uncounted = threading.local()  # set while SQS reads an attribute other than the counts
_applied = False


def keep_moto_flat() -> None:
    """Idempotent; install alongside serialize_moto_requests (a transaction's rollback needs its lock)."""
    global _applied
    if _applied:
        return
    _stop_tracking_items_and_messages()
    _roll_back_transactions_by_item()
    _count_queues_only_when_asked()
    _remember_backends_by_host()
    _applied = True


def _stop_tracking_items_and_messages() -> None:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item
    from moto.sqs.models import Message

    untracked = (Item, Message)
    tracked_new = BaseModel.__new__

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        if issubclass(cls, untracked):
            return object.__new__(cls)
        return tracked_new(cls, *args, **kwargs)

    BaseModel.__new__ = staticmethod(new)  # type: ignore[method-assign,assignment]


def _roll_back_transactions_by_item() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_shallow, "active", False):
            return self  # moto's "backup" is then the table itself: its rollback changes nothing
        # Any other copy of a table is the plain deep copy Python would make.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = _named_items(self, transact_items)
        _shallow.active = True
        try:
            original(self, transact_items)
        except Exception:
            _restore(saved)
            raise
        finally:
            _shallow.active = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


Saved = tuple[Any, Any, Any, dict[str, Any] | None]  # table, hash key, range key, item as it was


def _named_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[Saved]:
    """Each item the transaction names, as DynamoDB JSON (None where there is none yet)."""
    saved: list[Saved] = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName"))
            key = op.get("Item") if op_type == "Put" else op.get("Key")
            if table is None or not isinstance(key, dict):
                continue  # moto refuses the transaction before writing anything
            try:
                hash_key, range_key = backend.get_keys_value(table, key)
            except Exception:
                continue  # likewise: a key moto cannot read is refused
            item = table.get_item(hash_key, range_key)
            before = copy.deepcopy(item.to_json()["Attributes"]) if item is not None else None
            saved.append((table, hash_key, range_key, before))
    return saved


def _restore(saved: list[Saved]) -> None:
    for table, hash_key, range_key, before in reversed(saved):
        table.delete_item(hash_key, range_key)
        if before is not None:
            table.put_item(before, overwrite=True)


QUEUE_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _count_queues_only_when_asked() -> None:
    from moto.sqs import models

    for name in QUEUE_COUNTS:
        counted = getattr(models.Queue, name)
        setattr(models.Queue, name, property(functools.partial(_count_unless_uncounted, counted.fget)))
    for name in ("send_message", "is_message_valid_based_on_retention_period"):
        setattr(models.SQSBackend, name, _without_counts(getattr(models.SQSBackend, name)))
    slow_millis = models.unix_time_millis
    slow_seconds = models.unix_time
    # The same epoch time as moto's (a naive UTC datetime minus the epoch), at a tenth of the cost.
    models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_millis(dt)
    models.unix_time = lambda dt=None: time.time() if dt is None else slow_seconds(dt)


@contextmanager
def queue_counts_skipped() -> Iterator[None]:
    """While it lasts, this thread reads a queue's message counts as 0 (the snapshots' dump)."""
    outer = getattr(_uncounted, "active", False)
    _uncounted.active = True
    try:
        yield
    finally:
        _uncounted.active = outer


def _count_unless_uncounted(count: Any, queue: Any) -> int:
    return 0 if getattr(_uncounted, "active", False) else int(count(queue))


def _without_counts(method: Any) -> Any:
    """``method`` reads only ContentBasedDeduplication or MessageRetentionPeriod of the attributes."""

    @functools.wraps(method)
    def uncounted(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_uncounted, "active", False)
        _uncounted.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _uncounted.active = outer

    return uncounted


def _remember_backends_by_host() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    find = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}  # moto calls this under the dispatcher's lock

    @functools.wraps(find)
    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = find(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
