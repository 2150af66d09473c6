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

And per-request costs that bound a burst on the embedded stack (moto serves one request at a time):

- Its server, to route a request, lists moto's package folder (a stat per service) and tries every
  service's URL patterns, under a lock all requests share. The answer for a host never changes, so
  it is remembered.
- An UpdateItem's expression is parsed twice per request, and its syntax tree walked by ten
  processors, each rebuilding its table of node types at every node, one of them re-counting the
  clauses below each of the tree's (nested) expression nodes: a claim setting ten attributes cost
  ~900 node visits. Here a parsed expression is remembered by its text (every caller copies it
  before changing it), each walk builds its table once, and the clause count is checked once, at
  the root (the root's count covers every nested one).
- Its response serializer walks an item attribute by attribute against the service's output shape,
  a quarter of a claim's cost. DynamoDB's item operations answer JSON that is already in wire form,
  so it is written as is (only the keys of the output shape, as the serializer keeps).
"""

from __future__ import annotations

import base64
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
    _parse_each_update_expression_once()
    _walk_expression_trees_cheaply()
    _write_dynamodb_items_as_json()
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


def _parse_each_update_expression_once() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    # A failed parse raises and is not remembered; a tree is only read or deep-copied by moto.
    remembered = functools.lru_cache(maxsize=1024)(functools.partial(parse, UpdateExpressionParser))
    UpdateExpressionParser.make = classmethod(lambda cls, text: remembered(text))  # type: ignore[method-assign,assignment]


def _walk_expression_trees_cheaply() -> None:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node, UpdateExpression
    from moto.dynamodb.parsing.validators import ActionCountValidator

    def traverse(self: Any, root: Any) -> Any:
        """moto's depth-first walk (children first, a processed node replacing itself in its
        parent), with the processor's table of node types built once instead of at every node."""
        processors = self._processing_map()
        wanted = tuple(processors)

        def walk(node: Any, child_id: int = -1) -> Any:
            if not isinstance(node, Node):
                return node
            parent = node.parent
            for i, child in enumerate(node.children or ()):
                self.pre_processing_of_child(node, i)
                walk(child, i)
            if isinstance(node, wanted):
                node = next(process for kind, process in processors.items() if isinstance(node, kind))(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        return walk(root)

    def count_clauses_at_the_root(self: Any, root: Any) -> Any:
        if isinstance(root, UpdateExpression):
            self.verify_action_counts(root)
        return root

    DepthFirstTraverser.traverse = traverse  # type: ignore[method-assign]
    ActionCountValidator.traverse = count_clauses_at_the_root  # type: ignore[method-assign]


DYNAMODB_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_serialized_by_moto = threading.local()  # set while a test asks for moto's own serializer


def _write_dynamodb_items_as_json() -> None:
    import json

    from moto.core.serialize import ResponseSerializer

    serialize = ResponseSerializer.serialize

    def serialize_fast(self: Any, result: Any) -> Any:
        operation = self.operation_model
        if (
            isinstance(result, dict)
            and operation.name in DYNAMODB_ITEM_OPERATIONS
            and operation.service_model.service_name == "dynamodb"
            and not getattr(_serialized_by_moto, "active", False)
        ):
            members = operation.output_shape.members
            answer = {key: value for key, value in result.items() if key in members}
            if "ConsumedCapacity" in answer:  # its units are doubles in the shape: 2.0, not moto's 2
                answer["ConsumedCapacity"] = as_doubles(answer["ConsumedCapacity"])
            try:
                body = json.dumps(answer, default=as_base64)
            except TypeError:  # a value moto's serializer knows how to write and JSON does not
                return serialize(self, result)
            content_type = self._get_protocol_specific_content_type()
            return {"status_code": 200, "headers": {"Content-Type": content_type}, "body": body}
        return serialize(self, result)

    ResponseSerializer.serialize = serialize_fast  # type: ignore[method-assign]


def as_doubles(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: as_doubles(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [as_doubles(inner) for inner in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def as_base64(value: Any) -> str:
    """moto holds a binary attribute's bytes; on the wire they are base64, as its serializer writes them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


@contextmanager
def serialized_by_moto() -> Iterator[None]:
    """While it lasts, this thread's DynamoDB answers go through moto's own serializer (tests)."""
    _serialized_by_moto.active = True
    try:
        yield
    finally:
        _serialized_by_moto.active = False
