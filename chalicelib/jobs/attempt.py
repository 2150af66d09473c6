"""One running attempt of a job: progress, log lines, cancellation and the lease that guards it."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.aws.queues import QueueGoneError, SqsPriorityQueues
from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.errors import StaleWriteError
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import Job
from chalicelib.jobs.signals import ContinueLater, JobCancelled, JobTimedOut, LeaseLost
from chalicelib.jobs.store import DynamoJobStore
from chalicelib.telemetry import context

logger = logging.getLogger("tickwork.job")

MAX_LOG_LINE_CHARS = 2000
# A checkpoint is saved at every progress interval, in the job's item or, past a few KB, as a new
# S3 object each time (jobs/values.py): a bound keeps a chatty handler's saves cheap.
MAX_CHECKPOINT_BYTES = 64 * 1024


def clamp_progress(percent: int) -> int:
    """A reported percentage as the job keeps it: 0 to 100."""
    return max(0, min(100, percent))


def log_line(now: datetime, message: str) -> str:
    """A handler's log line as the job keeps it: timestamped, cut at MAX_LOG_LINE_CHARS."""
    return f"{to_iso(now)} {message[:MAX_LOG_LINE_CHARS]}"


def check_checkpoint_size(state: Any) -> None:
    """Raise ValueError when ``state`` is more JSON than a checkpoint may hold."""
    size = len(json.dumps(state, separators=(",", ":")).encode())
    if size > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"checkpoint state is {size} bytes; the limit is {MAX_CHECKPOINT_BYTES}")


def overrun_error(timeout_seconds: int | None) -> JobTimedOut:
    """What a handler that ran past its job's timeout is told (and the attempt fails with)."""
    return JobTimedOut(f"the attempt ran past its timeout of {timeout_seconds} s")


class Attempt:
    """Implements ``JobRunContext`` for one claimed attempt.

    The lease is the pair (job.lease_until in DynamoDB, the message's visibility in SQS). It is
    renewed by a heartbeat thread, so a handler that reports no progress for minutes keeps its
    job; only a dead process lets the lease lapse, and then the message comes back.
    """

    def __init__(
        self,
        *,
        job: Job,
        store: DynamoJobStore,
        queues: SqsPriorityQueues,
        queue_url: str,
        receipt_handle: str,
        clock: Clock,
        lease_s: int,
        progress_interval_s: float,
        max_log_lines: int,
        on_overrun: Callable[[JobTimedOut], None] | None = None,
        remaining_s: Callable[[], float] | None = None,
        continue_margin_s: float = 60.0,
    ) -> None:
        self.job = job
        self.latest = job  # the job as this attempt's last write left it
        # Seconds left in this invocation (Lambda's context), and how many to keep for handing over.
        self._remaining_s = remaining_s
        self._continue_margin_s = continue_margin_s
        # The first save comes a progress interval in: a job shorter than that never pays for one.
        self._last_checkpoint: datetime = clock.now()
        self.checkpoint_state: Any = job.checkpoint
        self._on_overrun = on_overrun
        self._store = store
        self._queues = queues
        self._queue_url = queue_url
        self._receipt_handle = receipt_handle
        self._clock = clock
        self._lease_s = lease_s
        self._interval = timedelta(seconds=progress_interval_s)
        self._lock = threading.Lock()
        # Lines of earlier attempts: those an old item held inline now; those in the log item are
        # read at the first flush, and only if this attempt logs anything.
        self._lines: deque[str] = deque(job.logs, maxlen=max_log_lines)
        self._lines_dirty = False
        self._lines_logged = 0
        self._earlier_lines_read = job.logs_loaded
        self._flush_lock = threading.Lock()
        # The claim was this attempt's first write: reports within an interval of it wait for the
        # next write (a heartbeat, a later report, the finish), so a short job pays for none.
        self._last_write: datetime = clock.now()
        self._written = (job.progress, job.progress_message)  # the progress the item holds
        self._last_cancel_check: datetime | None = None
        self._cancel_requested = job.status == JobStatus.CANCELLING
        self._lease_until = clock.now() + timedelta(seconds=lease_s)
        self._lost = False
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.progress = job.progress
        self._message = job.progress_message
        # The attempt's timeout counts from its first invocation, across checkpoint continuations.
        started = from_iso(job.attempt_started_at) if job.attempt_started_at else clock.now()
        self._deadline = started + timedelta(seconds=job.timeout_seconds) if job.timeout_seconds else None

    @property
    def token(self) -> str:
        assert self.job.lease_token is not None
        return self.job.lease_token

    @property
    def logs(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    # --- JobRunContext -----------------------------------------------------------------

    def report_progress(self, percent: int, message: str | None) -> None:
        percent = clamp_progress(percent)
        now = self._clock.now()
        self._check_deadline(now)
        with self._lock:
            self.progress = percent
            self._message = message
            due = now - self._last_write >= self._interval
        if due:
            self._write(now, progress=percent, message=message)
        if self._cancel_requested:
            raise JobCancelled()

    def unwritten_progress(self) -> dict[str, Any]:
        """The latest report, when a throttled one is not in the item yet: the next write carries it."""
        with self._lock:
            if (self.progress, self._message) == self._written:
                return {}
            return {"progress": self.progress, "message": self._message}

    def log(self, message: str) -> None:
        now = self._clock.now()
        line = log_line(now, message)
        # The job's id, type, attempt and correlation id come from the worker's log context.
        logger.info("%s", message[:MAX_LOG_LINE_CHARS])
        with self._lock:
            self._lines.append(line)
            self._lines_dirty = True
            self._lines_logged += 1

    def flush_logs(self, now: datetime) -> int | None:
        """Write the log lines if any were added since the last flush; how many the log item holds.

        None: nothing to write. StaleWriteError: a later attempt owns the job (and its lines).
        """
        with self._flush_lock:
            with self._lock:
                if not self._lines_dirty:
                    return None
                self._lines_dirty = False
            try:
                if not self._earlier_lines_read:
                    earlier = self._store.logs.read(self.job.id)
                    with self._lock:
                        merged = deque(earlier, maxlen=self._lines.maxlen)
                        merged.extend(self._lines)
                        self._lines = merged
                    self._earlier_lines_read = True
                with self._lock:
                    lines, sequence = list(self._lines), self._lines_logged
                self._store.logs.write(
                    self.job.id,
                    lines,
                    epoch=self.job.version,
                    lease_token=self.token,
                    sequence=sequence,
                    now=to_iso(now),
                )
            except Exception:
                with self._lock:
                    self._lines_dirty = True  # written at the next flush
                raise
            return len(lines)

    def is_cancelled(self) -> bool:
        if self._lost:
            raise LeaseLost()
        now = self._clock.now()
        self._check_deadline(now)
        if not self._cancel_requested and (
            self._last_cancel_check is None or now - self._last_cancel_check >= self._interval
        ):
            self._last_cancel_check = now
            current = self._store.get(self.job.id)
            if current is None or current.lease_token != self.token:
                self._lost = True
                raise LeaseLost()
            self._cancel_requested = current.status == JobStatus.CANCELLING
        return self._cancel_requested

    def checkpoint(self, state: Any) -> None:
        check_checkpoint_size(state)
        self.checkpoint_state = state
        now = self._clock.now()
        self._check_deadline(now)
        ending = self.invocation_ending()
        with self._lock:
            due = ending or now - self._last_checkpoint >= self._interval
        if due:
            # The latest progress rides along: progress writes are throttled on the same timer.
            self._write(now, checkpoint=state, progress=self.progress, message=self._message)
            with self._lock:
                self._last_checkpoint = now
        if self._cancel_requested:
            raise JobCancelled()
        if ending:
            raise ContinueLater()

    def invocation_ending(self) -> bool:
        """True when this invocation has less than the hand-over margin left (never outside Lambda)."""
        return self._remaining_s is not None and self._remaining_s() <= self._continue_margin_s

    def _check_deadline(self, now: datetime) -> None:
        # Python cannot stop a thread from outside: a reporting handler learns here, at its
        # next progress report or cancellation check; a silent one is failed by the heartbeat.
        if self._deadline is not None and now > self._deadline:
            raise self._overrun_error()

    def _overrun_error(self) -> JobTimedOut:
        return overrun_error(self.job.timeout_seconds)

    # --- lease -------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        # With the attempt's log context: its lines name the job, and its secrets stay hidden.
        self._heartbeat = threading.Thread(target=context.carried(self._beat), name=f"lease-{self.job.id}", daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)

    def _beat(self) -> None:
        # Renew at a third of the lease: two beats may fail before the lease can lapse.
        while True:
            wait_s = self._lease_s / 3
            if self._deadline is not None:
                wait_s = max(0.0, min(wait_s, (self._deadline - self._clock.now()).total_seconds() + 0.01))
            if self._stop.wait(wait_s):
                return
            now = self._clock.now()
            if self._deadline is not None and now > self._deadline and self._on_overrun is not None:
                # A handler that never reports cannot be told it overran: record the timeout
                # from here. Its late reports and result are refused (the lease is gone).
                self._lost = True
                self._on_overrun(self._overrun_error())
                return
            try:
                self._write(now, extend=True, **self.unwritten_progress())
            except LeaseLost:
                return
            except Exception:  # a transient AWS error: the next beat tries again
                logger.exception("lease renewal failed for job %s", self.job.id)

    def _write(
        self,
        now: datetime,
        *,
        progress: int | None = None,
        message: str | None = None,
        extend: bool = False,
        checkpoint: Any = None,
    ) -> None:
        if self._lost:
            raise LeaseLost()
        with self._lock:
            renew = extend or (self._lease_until - now).total_seconds() < self._lease_s / 2
            lease_until = now + timedelta(seconds=self._lease_s) if renew else None
        try:
            current = self._store.heartbeat(
                self.job.id,
                lease_token=self.token,
                now=to_iso(now),
                lease_until=to_iso(lease_until) if lease_until else None,
                progress=progress,
                progress_message=message,
                log_lines=self.flush_logs(now),
                checkpoint=checkpoint,
            )
        except StaleWriteError:
            self._lost = True
            raise LeaseLost() from None
        with self._lock:
            self._last_write = now
            if progress is not None:
                self._written = (progress, message)
            if lease_until is not None:
                self._lease_until = lease_until
            if current.version > self.latest.version:  # the heartbeat thread writes too
                self.latest = current
        self._cancel_requested = current.status == JobStatus.CANCELLING
        if lease_until is not None:
            try:
                self._queues.set_visibility(self._queue_url, self._receipt_handle, self._lease_s)
            except QueueGoneError:
                # The message is gone (deleted by hand, or retention ran out): the job row still
                # holds the lease, and the tick's sweep re-queues it if this worker dies.
                logger.warning("message for job %s is gone; the lease lives on in DynamoDB", self.job.id)
