"""The files whose changes restart the app under ``make run`` (devstack/supervisor.py)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

DEFAULT_WATCHED = ("plugins", "chalicelib", "app.py")


def default_watched(root: Path) -> list[Path]:
    return [root / name for name in DEFAULT_WATCHED if (root / name).exists()]


class Watcher(threading.Thread):
    """Puts each batch of changed paths on ``changes`` until ``stop`` is set.

    watchfiles (inotify, FSEvents...) ignores caches, editors' swap files and ``.pyc`` files, and
    hands over a save that writes several files as one batch.
    """

    def __init__(self, paths: Iterable[Path], stop: threading.Event) -> None:
        super().__init__(name="watch", daemon=True)
        self.paths = [path.resolve() for path in paths]
        self.changes: queue.Queue[set[str]] = queue.Queue()
        self._stop_event = stop

    def run(self) -> None:
        from watchfiles import watch

        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # a line per batch; ours says which files
        for batch in watch(*self.paths, stop_event=self._stop_event, raise_interrupt=False, yield_on_timeout=False):
            self.changes.put({path for _, path in batch})
