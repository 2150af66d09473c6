"""Control-flow signals raised inside a running handler.

Implementation note: they derive from BaseException on purpose. Handlers written after the
guide wrap each item in ``try/except Exception`` and count failures; a cancellation raised
from ``update_progress`` inside such a block must still stop the job, not count as one bad item.
"""

from __future__ import annotations

from typing import Any


class JobCancelled(BaseException):
    """Raised in a handler when its job was cancelled; ``partial_result`` is kept on the job."""

    def __init__(self, partial_result: Any = None) -> None:
        super().__init__("job cancelled")
        self.partial_result = partial_result


class LeaseLost(BaseException):
    """Raised in a handler whose lease was taken over: another attempt now owns the job."""


class JobTimedOut(Exception):  # noqa: N818 - reads as what happened
    """Raised in a handler that runs past its job's ``timeout_seconds``: the attempt fails (and may retry)."""


class PermanentJobError(Exception):
    """Raise from a handler when another attempt cannot help (bad configuration, missing setting).

    The job fails at once, whatever retries it has left, with this error's message.
    """


class ContinueLater(BaseException):
    """Raised by ``checkpoint()`` when the invocation nears its end: the job resumes in a fresh one."""
