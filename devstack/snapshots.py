"""The embedded AWS's data kept on disk, so ``make run`` starts where it stopped.

Runs inside the moto process (devstack/moto_process.py): ``restore()`` before it answers, then
a snapshot every ``interval_s`` while something changed, and a last one on ``close()``. moto
keeps nothing on disk, and its recorder replays requests, which is wrong for SQS (a replayed
ReceiveMessage hides a message again, a replayed DeleteMessage carries a dead receipt): what is
kept here is the state itself. A snapshot is written whole to a temporary file then renamed
over the last one, so a SIGKILL leaves the previous snapshot, never half of one.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.snapshot_api import dump_api_state, restore_api_state
from devstack.snapshot_backends import dump_queues, dump_tables, restore_queues, restore_tables

FORMAT = 1
DEFAULT_INTERVAL_S = 2.0
# Requests that change nothing: a snapshot after each would only rewrite the same file.
READ_ACTIONS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "ReceiveMessage")

logger = logging.getLogger("tickwork.snapshots")


class Changes:
    """Counts the requests that may have changed moto's data (and receives that returned messages)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


def changing(environ: dict[str, Any]) -> bool:
    """Whether a request to moto's server may change what it holds."""
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
        return False
    target = environ.get("HTTP_X_AMZ_TARGET")
    if not target:  # S3's PUT, POST and DELETE, and any query-protocol call
        return True
    return not target.rsplit(".", 1)[-1].startswith(READ_ACTIONS)


_changes = Changes()
_tracking = False


def track_changes() -> Changes:
    """Idempotent: counts each request (once answered) that may have changed something."""
    global _tracking
    if _tracking:
        return _changes
    _tracking = True
    changes = _changes
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import SQSBackend

    serve = DomainDispatcherApplication.__call__

    @functools.wraps(serve)
    def counted_call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return serve(self, environ, start_response)
        finally:
            if changing(environ):
                changes.add()  # after the change: a snapshot taken meanwhile is followed by another

    DomainDispatcherApplication.__call__ = counted_call  # type: ignore[method-assign]
    receive = SQSBackend.receive_message

    @functools.wraps(receive)
    def counted_receive(self: Any, *args: Any, **kwargs: Any) -> Any:
        messages = receive(self, *args, **kwargs)
        if messages:  # a receive hides its messages and counts a receive on each
            changes.add()
        return messages

    SQSBackend.receive_message = counted_receive  # type: ignore[method-assign]
    return changes


def take_snapshot(endpoint: str, region: str, lock: Any, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    api = dump_api_state(endpoint, region)  # through the server: not under its request lock
    with lock:  # the tables and queues as of one moment: no request half applied
        return {
            "format": FORMAT,
            "taken_at": clock(),
            "tables": dump_tables(),
            "queues": dump_queues(),
            "api": api,
        }


def restore_snapshot(snapshot: dict[str, Any], endpoint: str, clock: Callable[[], float] = time.time) -> str:
    """What was restored, in words."""
    items = restore_tables(snapshot["tables"])
    messages = restore_queues(snapshot["queues"], now_ms=clock() * 1000.0)
    restore_api_state(endpoint, snapshot["api"])
    api = snapshot["api"]
    objects = sum(len(b["objects"]) for b in api["buckets"])
    return (
        f"{len(snapshot['tables'])} tables ({items} items), {len(snapshot['queues'])} queues ({messages} messages), "
        f"{len(api['parameters'])} parameters, {len(api['secrets'])} secrets, {objects} objects"
    )


BYTES_KEY = "__bytes_base64__"  # moto keeps a binary attribute's value as bytes


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {BYTES_KEY: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} has no place in a snapshot")


def _decode_bytes(value: dict[str, Any]) -> Any:
    return base64.b64decode(value[BYTES_KEY]) if len(value) == 1 and BYTES_KEY in value else value


def write_atomically(path: Path, snapshot: dict[str, Any]) -> int:
    """The snapshot replaces the file at ``path`` whole; returns its size in bytes."""
    data = json.dumps(snapshot, separators=(",", ":"), default=_encode_bytes).encode()
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return len(data)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    snapshot: dict[str, Any] = json.loads(path.read_bytes(), object_hook=_decode_bytes)
    if snapshot.get("format") != FORMAT:
        raise ValueError(f"{path} is in format {snapshot.get('format')!r}, not {FORMAT}")
    return snapshot


class Snapshots:
    """Restores ``path`` at start, then keeps it up to date from a thread of its own."""

    def __init__(self, path: Path, endpoint: str, region: str, lock: Any, interval_s: float) -> None:
        self.path = path
        self._endpoint = endpoint
        self._region = region
        self._lock = lock
        self._interval_s = interval_s
        self._changes = _changes
        self._saved = 0  # the change count the file on disk reflects
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._writing = threading.Lock()

    def install(self) -> None:
        """Before moto serves: a change it misses would be written only with the next one."""
        track_changes()
        self._saved = self._changes.count

    def restore(self) -> str | None:
        """Loads the file into the running server, before anyone else is told its address."""
        try:
            snapshot = read_snapshot(self.path)
        except ValueError as exc:  # unreadable, or from another version: keep it aside, start empty
            aside = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, aside)
            logger.warning("%s; moved to %s, starting empty", exc, aside)
            return None
        if snapshot is None:
            return None
        restored = restore_snapshot(snapshot, self._endpoint)
        self._saved = self._changes.count  # the restore's own requests are what the file holds
        return restored

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def save(self) -> int | None:
        """A snapshot if anything changed since the last; its size in bytes, or None."""
        with self._writing:
            seen = self._changes.count
            if seen == self._saved:
                return None
            size = write_atomically(self.path, take_snapshot(self._endpoint, self._region, self._lock))
            self._saved = seen
            return size

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.save()
            except Exception:  # the next interval tries again; the last good snapshot stays in place
                logger.exception("snapshot of the embedded AWS failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.save()
