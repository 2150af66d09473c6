"""Makes moto's conditional writes atomic, as DynamoDB's and SQS's are.

Implementation note: moto handles each request without any lock, so two threads can both pass
the same ConditionExpression before either writes (seen here: four concurrent ticks each
advanced one cron job's ``next_run_at``, run_count 4 instead of 2). Real DynamoDB evaluates a
condition and applies the write atomically per item. Serialising moto's request handling
restores that property for the embedded stack and the tests; it costs nothing measurable, since
moto tops out at ~150-200 calls/s anyway.

Likewise, moto applies an UpdateItem's actions one by one to the stored item and checks the
400 KB limit as it goes: a write refused for size leaves the actions before it applied (a job
``completed`` without the result that made the write too large). DynamoDB applies all or none;
so does the patch below.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from devstack.moto_flat import keep_moto_flat

_LOCK = threading.RLock()
_applied = False


def request_lock() -> threading.RLock:
    """Held while moto handles a request: whoever holds it sees no request half applied."""
    return _LOCK


def serialize_moto_requests() -> None:
    """Idempotent; call before moto serves its first request."""
    global _applied
    if _applied:
        return
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    _make_refused_updates_change_nothing()
    keep_moto_flat()  # its transactions' rollback relies on the lock above
    _applied = True


def _make_refused_updates_change_nothing() -> None:
    from moto.dynamodb.exceptions import ItemSizeToUpdateTooLarge
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item

    @functools.wraps(original)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        hash_value, range_value = self.get_keys_value(table, key)
        item = table.get_item(hash_value, range_value)
        before = copy.deepcopy(item.attrs) if item is not None else None
        try:
            return original(self, table_name, key, *args, **kwargs)
        except ItemSizeToUpdateTooLarge:
            if item is None:
                table.delete_item(hash_value, range_value)  # moto created it for the update
            else:
                item.attrs = before
            raise

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
