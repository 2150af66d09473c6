"""``BaseJobHandler``: what plugin handlers subclass (the guide's BaseJobHandler, in Python)."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.jobs.model import Job


class JobRunContext(Protocol):
    """What a running handler may ask of the worker that runs it."""

    def report_progress(self, percent: int, message: str | None) -> None: ...

    def log(self, message: str) -> None: ...

    def is_cancelled(self) -> bool: ...

    def checkpoint(self, state: Any) -> None: ...


class BaseJobHandler:
    """Subclass it, implement ``execute()`` and return the job's result (anything JSON can hold).

    ``self.job`` is the stored job (``self.job.payload``, ``self.job.id``...). Raise to fail the
    attempt: it is retried with backoff while retries are left.
    """

    #: One line shown by ``GET /api/job-types``.
    description: str = ""

    def __init__(self, job: Job, context: JobRunContext) -> None:
        self.job = job
        self._context = context
        #: The state last passed to ``checkpoint()`` by this job (None on a first run): a job
        #: resumed in a fresh invocation, or retried after a crash, starts from here.
        self.checkpoint_state: Any = job.checkpoint

    def execute(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def update_progress(self, percent: int | float, message: str | None = None) -> None:
        """Report progress (0-100). Raises ``JobCancelled`` if the job was cancelled meanwhile."""
        self._context.report_progress(round(percent), message)

    def log(self, message: str) -> None:
        """Keep a line with the job (shown by ``GET /api/background-jobs/{id}``) and in the logs."""
        self._context.log(str(message))

    def is_cancelled(self) -> bool:
        return self._context.is_cancelled()

    def checkpoint(self, state: Any) -> None:
        """Save ``state`` (JSON, at most 64 KiB) to resume from; call it often, e.g. after each item.

        Saved at most about once a second, and always when the invocation nears its time limit:
        then the job continues in a fresh invocation (``self.checkpoint_state`` holds ``state``;
        it does not count as a retry). Raises ``JobCancelled`` if the job was cancelled.
        """
        self.checkpoint_state = state
        self._context.checkpoint(state)

    @property
    def idempotency_key(self) -> str:
        """Stable across every attempt of this job: key external side effects with it."""
        return self.job.id
