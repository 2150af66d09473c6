"""A child process of the dev stack that ends with its parent, however the parent ends."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable


def when_parent_exits(action: Callable[[], None], *, name: str = "parent-watch") -> None:
    """Run ``action`` once the parent is gone, even after a SIGKILL: the child's stdin is a pipe only
    the parent holds open, and reading it returns at EOF when the parent closes it or dies."""

    def wait_for_eof() -> None:
        sys.stdin.read()
        action()

    threading.Thread(target=wait_for_eof, name=name, daemon=True).start()
