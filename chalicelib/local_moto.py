"""Makes moto's conditional writes atomic, as DynamoDB's and SQS's are.

Implementation note: moto handles each request without any lock, so two threads can both pass
the same ConditionExpression before either writes (seen here: four concurrent ticks each
advanced one cron job's ``next_run_at``, run_count 4 instead of 2). Real DynamoDB evaluates a
condition and applies the write atomically per item. Serialising moto's request handling
restores that property for the embedded stack and the tests; it costs nothing measurable, since
moto tops out at ~150-200 calls/s anyway (PITFALLS.md).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_applied = False


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
    _applied = True
