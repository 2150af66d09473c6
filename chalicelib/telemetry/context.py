"""What every log line of the current request, job or tick carries (contextvars, pure stdlib).

A context is per thread (and per asyncio task): the API binds it for one request, the worker for
one record, the tick for one run. Threads a unit of work starts get it through ``carried``; a new
thread otherwise starts with none. The secrets a running job revealed live here too, so that
every line written while it runs is scrubbed, whoever writes it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TypeVar

from chalicelib.scrubbing import MIN_SECRET_CHARS

# The fields a line may carry besides level, message and timestamp, in the order they are written.
FIELDS = (
    "correlation_id",
    "job_id",
    "store_id",
    "plugin_id",
    "type",
    "priority",
    "attempt",
    "cron_job_id",
    "request_id",
)
# A correlation id a caller sends is taken only in this shape: it lands in every line and message.
CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_NONE: Mapping[str, Any] = MappingProxyType({})
_fields: ContextVar[Mapping[str, Any]] = ContextVar("tickwork_log_fields", default=_NONE)
_trace_header: ContextVar[str | None] = ContextVar("tickwork_trace_header", default=None)
_secrets: ContextVar[set[str] | None] = ContextVar("tickwork_log_secrets", default=None)

T = TypeVar("T")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def sane_correlation_id(value: str | None) -> str | None:
    """``value`` if it is a token fit to log and carry; None otherwise."""
    if value is None:
        return None
    value = value.strip()
    return value if CORRELATION_ID.fullmatch(value) else None


def fields() -> dict[str, Any]:
    return dict(_fields.get())


def correlation_id() -> str | None:
    value = _fields.get().get("correlation_id")
    return str(value) if value is not None else None


def trace_header() -> str | None:
    """The X-Ray trace header of the request or message being handled, if any."""
    return _trace_header.get()


def secrets() -> frozenset[str]:
    return frozenset(_secrets.get() or ())


@contextmanager
def bound(*, trace_header: str | None = None, keep_secrets: bool = False, **values: Any) -> Iterator[None]:
    """Add ``values`` (None ones left out) to the context until the block ends.

    ``trace_header`` replaces the trace the block belongs to; ``keep_secrets`` opens a fresh
    set of secrets for the block (a job's attempt), which ``hide`` fills.
    """
    merged = {**_fields.get(), **{name: value for name, value in values.items() if value is not None}}
    tokens = [(_fields, _fields.set(merged))]
    if trace_header is not None:
        tokens.append((_trace_header, _trace_header.set(trace_header)))
    if keep_secrets:
        tokens.append((_secrets, _secrets.set(set())))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)  # type: ignore[attr-defined]


def hide(values: Iterable[str]) -> None:
    """Scrub ``values`` from every line written from now on in this context (a job's secrets)."""
    kept = _secrets.get()
    if kept is not None:
        kept.update(value for value in values if value and len(value) >= MIN_SECRET_CHARS)


def carried(function: Callable[..., T]) -> Callable[..., T]:
    """``function``, to run in another thread with the context of the caller at this moment.

    The secrets are the same set, not a copy: a secret the job reveals later is hidden there too.
    """
    snapshot, trace, kept = _fields.get(), _trace_header.get(), _secrets.get()

    def run(*args: Any, **kwargs: Any) -> T:
        tokens = (_fields.set(snapshot), _trace_header.set(trace), _secrets.set(kept))
        try:
            return function(*args, **kwargs)
        finally:
            _secrets.reset(tokens[2])
            _trace_header.reset(tokens[1])
            _fields.reset(tokens[0])

    return run
