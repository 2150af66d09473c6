"""A log line as one JSON object, or as one readable line on a terminal (stdlib logging only).

Each line: ``timestamp``, ``level``, ``logger``, ``message``, then the context's fields
(``chalicelib/telemetry/context.py``), then whatever the call passed as ``extra``, then
``exception`` when there is one. The secrets of the job being run are scrubbed from every
string of the line before it is encoded, so no path around a handler's own scrubbing (a
traceback, a library's line, a warning naming a value) writes them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from chalicelib.scrubbing import scrub
from chalicelib.telemetry import context

# What every LogRecord holds: anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_STAMPED = ("log_fields", "log_secrets")
MAX_MESSAGE_CHARS = 16_000


class ContextFilter(logging.Filter):
    """Stamps each record with the context of the thread that wrote it, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "log_fields"):
            record.log_fields = context.fields()
            record.log_secrets = context.secrets()
        return True


def line_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields in order, scrubbed; the record is stamped here if no filter did it."""
    ContextFilter().filter(record)
    secrets = getattr(record, "log_secrets", frozenset())
    line: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage()[:MAX_MESSAGE_CHARS],
    }
    bound = getattr(record, "log_fields", {})
    line.update({name: bound[name] for name in context.FIELDS if bound.get(name) is not None})
    line.update(
        {name: value for name, value in record.__dict__.items() if name not in _STANDARD and name not in _STAMPED}
    )
    if record.exc_info:
        line["exception"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        line["exception"] = record.exc_text
    if record.stack_info:
        line["stack"] = record.stack_info
    return _scrubbed(line, secrets) if secrets else line


def _scrubbed(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {key: _scrubbed(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item, secrets) for item in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what CloudWatch Logs Insights queries field by field."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(line_fields(record), default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """The same fields on one line for a person at a terminal: time, level, logger, message, key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = line_fields(record)
        moment = line.pop("timestamp")[11:23]
        level, name, message = line.pop("level"), line.pop("logger"), line.pop("message")
        exception = line.pop("exception", None)
        pairs = " ".join(f"{key}={value}" for key, value in line.items())
        text = f"{moment} {level:<7} {name:<16} {message}" + (f"  {pairs}" if pairs else "")
        return text + (f"\n{exception}" if exception else "")
