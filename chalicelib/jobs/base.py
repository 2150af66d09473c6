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
        self._batches_asked = 0
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

    def schedule_batch(
        self,
        jobs: list[dict[str, Any]],
        *,
        on_complete: dict[str, Any] | None = None,
        on_success: dict[str, Any] | None = None,
        description: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Schedule ``jobs`` (schedule bodies, 1 to 1,000) as one batch of this job's store, with
        callbacks (``{"type", "payload"?, "priority"?}``) when they have all ended; answers the
        batch (``id``, ``status``, counts). See docs/plugin-guide.md.

        The batch acts with this job's rights, exactly those of whoever created the job. Its
        idempotency key is derived from this job and ``key`` (by default, the order of this call
        among the attempt's batches): an attempt that runs again gets the batch it made before.
        """
        from chalicelib import runtime  # the handler runs in a worker whose runtime is built

        self._batches_asked += 1
        body: dict[str, Any] = {
            "store_id": self.job.store_id,
            "jobs": jobs,
            "on_complete": on_complete,
            "on_success": on_success,
            "description": description,
            "idempotency_key": f"job:{self.job.id}:batch:{key or self._batches_asked}",
        }
        return runtime.current().batches.create_for_job(self.job, {k: v for k, v in body.items() if v is not None})

    @property
    def idempotency_key(self) -> str:
        """Stable across every attempt of this job: key external side effects with it."""
        return self.job.id
