"""Where log lines go: the root logger's handlers get the JSON (or console) form, once per process."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from chalicelib.telemetry.formatting import ConsoleFormatter, ContextFilter, JsonFormatter

# Libraries whose INFO and DEBUG lines are request by request (botocore's DEBUG dumps whole
# items and secrets' values): WARNING unless the operator asked for DEBUG.
CHATTY_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is when a line is written (test runners replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def level_of(name: str | None) -> int:
    """A level name (any case); INFO for one that is not a level."""
    text = (name or "").strip().upper()
    return logging.getLevelName(text) if text in LEVELS else logging.INFO  # type: ignore[no-any-return]


def configure_logging(
    level: str | None, *, stream: TextIO | None = None, console: bool = False, on_lambda: bool = False
) -> logging.Handler:
    """Make every line one JSON object (or one console line); returns the handler that writes them.

    On Lambda the runtime has put its own handler on the root logger: it gets our formatter and
    keeps its destination (a second handler would write each line twice). Elsewhere a handler
    writing to ``stream`` (stdout by default) is added, and handlers others put there (a test
    runner's) are left alone. A second call (``app.py`` imported by the embedded stack, which
    configured first) only sets the levels.
    """
    root = logging.getLogger()
    numeric = level_of(level)
    root.setLevel(numeric)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    ours = [handler for handler in root.handlers if getattr(handler, "tickwork", False)]
    if ours:
        return ours[0]
    formatter = ConsoleFormatter() if console else JsonFormatter()
    targets = list(root.handlers) if on_lambda else []
    if not targets:
        handler: logging.Handler = _StdoutHandler() if stream is None else logging.StreamHandler(stream)
        root.addHandler(handler)
        targets = [handler]
    for handler in targets:
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        handler.tickwork = True  # type: ignore[attr-defined]
    return targets[0]
