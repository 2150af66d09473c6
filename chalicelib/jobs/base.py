"""``BaseJobHandler``: what plugin handlers subclass (the guide's BaseJobHandler, in Python)."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.models import Job


class JobRunContext(Protocol):
    """What a running handler may ask of the worker that runs it."""

    def report_progress(self, percent: int, message: str | None) -> None: ...

    def log(self, message: str) -> None: ...

    def is_cancelled(self) -> bool: ...


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

    @property
    def idempotency_key(self) -> str:
        """Stable across every attempt of this job: key external side effects with it."""
        return self.job.id
