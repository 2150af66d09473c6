"""``run_handler``: one attempt of a handler, inline, ended as the worker ends it.

How an attempt ends follows ``chalicelib.jobs.worker.JobWorker`` (``_run``, ``_after_failure``,
``_finish``): a cancel acknowledged during the attempt always ends it cancelled, a result over
the size limit fails it, a run past its deadline fails with the timeout whatever the handler did
after, and the errors and log lines are the worker's own texts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib.clock import Clock, SystemClock, to_iso
from chalicelib.config import Settings
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.lifecycle import JobStatus, Priority, has_retries_left
from chalicelib.jobs.model import Job, parse_model
from chalicelib.jobs.signals import ContinueLater, JobCancelled, PermanentJobError
from chalicelib.jobs.values import MAX_RESULT_BYTES, encode_value
from chalicelib.jobs.worker import (
    CANCELLED_AFTER_FINISHING,
    cancelled_after_failing,
    error_text,
    failed_attempt_line,
    result_dropped,
    result_too_large,
)
from tickwork_testing.context import InMemoryContext, ProgressCall, Simulation

TIMESTAMP_CHARS = len("2026-01-01T00:00:00.000000Z ")


class RunStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"  # the attempt failed: the job retries if ``will_retry``, else it is failed
    CANCELLED = "cancelled"
    CONTINUED = "continued"  # handed over at a checkpoint: a fresh invocation resumes it


@dataclass(frozen=True)
class HandlerRun:
    """What one attempt left: what the job would show, and every call the handler made."""

    status: RunStatus
    result: Any
    error: str | None
    exception: BaseException | None
    #: The job's progress and message after the attempt (100 once completed).
    progress: int
    progress_message: str | None
    #: Every ``update_progress`` call, in order, as kept (rounded and clamped).
    progress_calls: list[ProgressCall]
    #: The job's log lines, timestamped, at most ``max_log_lines`` (the last ones).
    logs: list[str]
    #: Every state passed to ``checkpoint()``, in order.
    checkpoints: list[Any]
    #: The state a later invocation (or a retry after a crash) starts from.
    checkpoint: Any
    will_retry: bool = False
    job: Job | None = field(default=None, repr=False)

    @property
    def log_messages(self) -> list[str]:
        """The log lines without their timestamps."""
        return [line[TIMESTAMP_CHARS:] for line in self.logs]


@dataclass
class _End:
    status: JobStatus
    result: Any = None
    error: str | None = None
    exception: BaseException | None = None


def run_handler(
    handler: type[BaseJobHandler],
    payload: dict[str, Any] | None = None,
    *,
    payload_model: type[BaseModel] | None = None,
    checkpoint: Any = None,
    cancel_at_progress: int | None = None,
    timeout_seconds: int | None = None,
    timeout_at_progress: int | None = None,
    continue_at_checkpoint: int | None = None,
    clock: Clock | None = None,
    job_type: str = "plugin:test:run",
    store_id: str = "store-test",
    attempt: int = 1,
    max_retries: int = 3,
    metadata: dict[str, Any] | None = None,
    max_log_lines: int | None = None,
) -> HandlerRun:
    """Run ``handler`` once on ``payload``, inline, and say how the attempt ended.

    - ``payload_model``: validate the payload as scheduling does (a ``BadRequestError`` naming the
      field), and give the handler what scheduling stores.
    - ``checkpoint``: the job's stored checkpoint, as when resuming (``self.checkpoint_state``).
    - ``cancel_at_progress=N``: the job is cancelled and the worker acknowledges it at the Nth
      ``update_progress``, which raises ``JobCancelled`` (as every later report or checkpoint does).
    - ``timeout_seconds``: the job's timeout, counted on ``clock`` from the start;
      ``timeout_at_progress=N``: its deadline has passed when the Nth report comes.
    - ``continue_at_checkpoint=N``: the invocation nears its end at the Nth ``checkpoint()``, which
      keeps the state and raises ``ContinueLater``.
    """
    if timeout_at_progress is not None and timeout_seconds is None:
        raise TypeError("timeout_at_progress needs the job's timeout_seconds (it names it in the error)")
    settings = Settings()
    clock = clock or SystemClock()
    if payload_model is not None:
        payload = parse_model(payload_model, payload or {}, field_prefix="payload", context=settings).model_dump(
            mode="json", exclude_unset=True
        )
    now = to_iso(clock.now())
    job = Job(
        id=str(uuid.uuid4()),
        type=job_type,
        priority=Priority.NORMAL,
        status=JobStatus.RUNNING,
        payload=payload or {},
        store_id=store_id,
        metadata=metadata or {},
        attempts=attempt,
        max_retries=max_retries,
        timeout_seconds=timeout_seconds,
        checkpoint=checkpoint,
        created_at=now,
        updated_at=now,
        scheduled_at=now,
        started_at=now,
        attempt_started_at=now,
    )
    context = InMemoryContext(
        clock=clock,
        max_log_lines=max_log_lines or settings.max_log_lines,
        checkpoint=checkpoint,
        simulation=Simulation(
            cancel_at_progress=cancel_at_progress,
            timeout_seconds=timeout_seconds,
            timeout_at_progress=timeout_at_progress,
            continue_at_checkpoint=continue_at_checkpoint,
        ),
    )
    end = _attempt(handler, job, context)
    last = context.progress
    progress, message = (last.percent, last.message) if last else (0, None)
    return HandlerRun(
        status=_shown_status(end.status),
        result=end.result,
        error=end.error,
        exception=end.exception,
        progress=100 if end.status == JobStatus.COMPLETED else progress,
        progress_message=message,
        progress_calls=list(context.progress_calls),
        logs=context.logs,
        checkpoints=list(context.checkpoints),
        checkpoint=context.checkpoint_state,
        will_retry=end.status == JobStatus.RETRYING,
        job=job,
    )


def _attempt(handler: type[BaseJobHandler], job: Job, context: InMemoryContext) -> _End:
    try:
        result = handler(job, context).execute()
    except JobCancelled as signal:
        if context.deadline_passed():
            return _failed(job, context, context.overrun())
        return _finish(job, context, _End(JobStatus.CANCELLED, result=signal.partial_result, error="cancelled"))
    except ContinueLater:
        if context.cancel_requested:
            return _finish(job, context, _End(JobStatus.CANCELLED, error="cancelled"))
        return _End(JobStatus.PENDING)
    except Exception as exc:
        # Past its deadline the worker's heartbeat has already failed the attempt with the timeout.
        return _failed(job, context, context.overrun() if context.deadline_passed() else exc)
    if context.deadline_passed():
        return _failed(job, context, context.overrun())
    return _finish(job, context, _End(JobStatus.COMPLETED, result=result))


def _failed(job: Job, context: InMemoryContext, exc: BaseException) -> _End:
    error = error_text(exc)
    context.log(failed_attempt_line(job.attempts, error))
    retries = not isinstance(exc, PermanentJobError) and has_retries_left(job.attempts, job.max_retries)
    return _finish(job, context, _End(JobStatus.RETRYING if retries else JobStatus.FAILED, error=error, exception=exc))


def _finish(job: Job, context: InMemoryContext, end: _End) -> _End:
    size = len(encode_value(end.result)) if end.result is not None else 0
    if size > MAX_RESULT_BYTES:
        problem = result_too_large(size)
        if end.status == JobStatus.COMPLETED:
            context.log(failed_attempt_line(job.attempts, problem))
            end = _End(JobStatus.FAILED, error=problem, exception=end.exception)
        else:
            end = _End(
                end.status, error=result_dropped(end.error or end.status.value, problem), exception=end.exception
            )
            context.log(end.error or "")
    if context.cancel_requested and end.status != JobStatus.CANCELLED:
        if end.status == JobStatus.COMPLETED:
            end = _End(JobStatus.CANCELLED, result=end.result, error=CANCELLED_AFTER_FINISHING)
        else:
            reason = end.error or end.status.value
            end = _End(JobStatus.CANCELLED, error=cancelled_after_failing(reason), exception=end.exception)
        context.log(end.error or "")
    return end


def _shown_status(status: JobStatus) -> RunStatus:
    if status == JobStatus.PENDING:
        return RunStatus.CONTINUED
    if status == JobStatus.RETRYING:
        return RunStatus.FAILED
    return RunStatus(status.value)
