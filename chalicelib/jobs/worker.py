"""Runs the jobs named by one SQS batch: claim, execute, record, and steer each message.

Lambda deletes every message of the batch not listed in ``batchItemFailures``; a listed one
comes back when its visibility timeout ends, which is how backoff and leases work here.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chalicelib.aws.queues import QueueGoneError, SqsPriorityQueues
from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.config import Settings
from chalicelib.errors import StaleWriteError, UnknownJobTypeError
from chalicelib.jobs.attempt import Attempt
from chalicelib.jobs.backoff import compute_backoff
from chalicelib.jobs.job_metrics import JobMetrics
from chalicelib.jobs.lifecycle import CLAIMABLE_STATUSES, JobStatus, has_retries_left, is_terminal
from chalicelib.jobs.model import Job, JobMessage
from chalicelib.jobs.platform import Platform, build_handler
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.jobs.signals import ContinueLater, JobCancelled, LeaseLost, PermanentJobError
from chalicelib.jobs.store import CancelAcknowledgedError, ClaimRefusedError, DynamoJobStore
from chalicelib.jobs.values import MAX_RESULT_BYTES, encode_value
from chalicelib.jobs.windows import expired_reason, is_expired
from chalicelib.metrics import Metric
from chalicelib.stores.gate import Admission, StoreGate
from chalicelib.telemetry import context
from chalicelib.telemetry.tracing import from_xray

logger = logging.getLogger("tickwork.worker")

MAX_ERROR_CHARS = 4000
# A job found up to this early is held until its time rather than put back for a second (a
# message sent with its delay rounded down arrives up to a second ahead). Never run early.
EARLY_TOLERANCE_S = 1.0
# SQS keeps a message at most 14 days from its first send; renew well before.
MESSAGE_RENEW_AGE_S = 7 * 24 * 3600
CANCELLED_AFTER_FINISHING = "cancelled: the handler finished after the cancel was acknowledged"


def error_text(exc: BaseException) -> str:
    """A failed attempt's error as the job records it."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def failed_attempt_line(attempts: int, error: str) -> str:
    """The log line a failed attempt leaves on its job."""
    return f"attempt {attempts} failed: {error}"


def cancelled_after_failing(reason: str) -> str:
    """The error of a cancel-acknowledged attempt that failed (or timed out) afterwards."""
    return f"cancelled: the attempt failed after the cancel was acknowledged ({reason})"[:MAX_ERROR_CHARS]


def result_too_large(size: int) -> str:
    """Why a result over MAX_RESULT_BYTES is not kept."""
    return (
        f"result is {size} bytes; a job keeps at most {MAX_RESULT_BYTES} bytes of result: "
        "return less, or store it elsewhere and return a reference"
    )


def result_dropped(error: str, problem: str) -> str:
    """The error of a cancelled run whose partial result could not be kept."""
    return f"{error}; its result was dropped: {problem}"[:MAX_ERROR_CHARS]


class Outcome(StrEnum):
    DONE = "done"  # delete the message
    KEEP = "keep"  # leave it; it comes back after its visibility timeout


@dataclass(frozen=True)
class RecordResult:
    outcome: Outcome
    reason: str


class JobWorker:
    def __init__(
        self,
        *,
        store: DynamoJobStore,
        queues: SqsPriorityQueues,
        registry: JobTypeRegistry,
        clock: Clock,
        settings: Settings,
        platform: Platform,
        on_finished: Callable[[Job], None] | None = None,
        metrics: JobMetrics | None = None,
        cron_gate: Callable[[Job], str | None] | None = None,
        store_gate: StoreGate | None = None,
    ) -> None:
        self.platform = platform  # what the runtime hands built-in types
        self.store_gate = store_gate  # each store's cap on jobs running at once (chalicelib/stores/)
        self.on_finished = on_finished
        self.metrics = metrics  # flushed once per batch
        self.cron_gate = cron_gate  # why a claimed cron run must not start (chalicelib/crons/gate.py)
        self.store = store
        self.queues = queues
        self.registry = registry
        self.clock = clock
        self.settings = settings

    def handle_event(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Run one SQS batch; ``context`` is Lambda's (its remaining time lets long jobs hand over)."""
        received = event.get("Records", [])
        remaining_s = (lambda: context.get_remaining_time_in_millis() / 1000) if context is not None else None
        # Jobs whose store is at its cap wait, unclaimed, their messages hidden until a slot frees.
        admission = self.store_gate.admit(received) if self.store_gate is not None else None
        records = admission.admitted if admission is not None else received
        began = time.monotonic()
        shortened_at = self._shorten_batch(records)

        def handle(record: dict[str, Any]) -> RecordResult:
            try:
                return self.handle_record(record, remaining_s=remaining_s, shortened_at=shortened_at)
            except Exception:
                # An AWS error (throttling, a timeout) on one record: only that message comes
                # back after its visibility timeout; the batch's finished records stay finished.
                logger.exception("message %s: unexpected error; it will be delivered again", record.get("messageId"))
                return RecordResult(Outcome.KEEP, "error")

        width = min(len(records), self.settings.record_concurrency)
        # Started where the finally below stops it, whatever escapes (a crash stand-in too).
        renewing = self._renew_slots(admission)
        try:
            if width <= 1:
                results = [handle(record) for record in records]
            else:
                # Records side by side: one after another, the tenth of ten runs due at the same
                # second would start only when nine others had finished.
                with ThreadPoolExecutor(max_workers=width, thread_name_prefix="record") as pool:
                    results = list(pool.map(handle, records))
        finally:
            renewing.set()
            if admission is not None:
                self.store_gate.release(admission, run_s=time.monotonic() - began)  # type: ignore[union-attr]
            if self.metrics is not None:
                self.metrics.flush()
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record, result in zip(records, results, strict=True)
            if result.outcome == Outcome.KEEP
        ]
        if admission is not None:
            failures += [{"itemIdentifier": record["messageId"]} for record in admission.deferred]
        # Returning every record as failed (rather than raising, as powertools does) is
        # deliberate: each kept message already has the visibility it should have.
        return {"batchItemFailures": failures}

    def _renew_slots(self, admission: Admission | None) -> threading.Event:
        """While the batch runs, keep its store slots a lease ahead (as its jobs' leases are); set
        the answer to stop. A dead worker's slots lapse a lease after its last renewal."""
        stop = threading.Event()
        gate = self.store_gate
        if admission is None or gate is None or not gate.holds(admission):
            return stop

        def renew() -> None:
            while not stop.wait(gate.hold_s / 3):
                gate.renew(admission)

        threading.Thread(target=renew, name="slot-renewal", daemon=True).start()
        return stop

    def _shorten_batch(self, records: list[dict[str, Any]]) -> float | None:
        """Cut every message of the batch from the queue's long default visibility to one lease.

        Lambda receives with the queue's visibility (6x the function timeout, 90 min here). A
        process that dies on one record (a crash loop, a kill) leaves the records after it
        untouched: without this they would wait out those 90 minutes behind a poison message.
        One call per batch; returns when it was made (monotonic), or None if it failed.
        """
        by_queue: dict[str, list[str]] = {}
        for record in records:
            by_queue.setdefault(record.get("eventSourceARN", ""), []).append(record["receiptHandle"])
        try:
            for arn, receipts in by_queue.items():
                self.queues.set_visibility_many(
                    self.queues.url_for_name(arn.rsplit(":", 1)[-1]), receipts, self.settings.lease_s
                )
        except Exception:
            logger.exception("could not shorten the batch's visibility; each record sets its own")
            return None
        return time.monotonic()

    def handle_record(
        self,
        record: dict[str, Any],
        *,
        remaining_s: Callable[[], float] | None = None,
        shortened_at: float | None = None,
    ) -> RecordResult:
        source_queue = record["eventSourceARN"].rsplit(":", 1)[-1]
        queue_url = self.queues.url_for_name(source_queue)
        try:
            message = JobMessage.model_validate_json(record["body"])
        except ValidationError:
            logger.error("unreadable message %s sent to the dead-letter queue", record.get("messageId"))
            self._park(source_queue, queue_url, record, "unreadable message body")
            return RecordResult(Outcome.DONE, "poison")
        trace = (record.get("attributes") or {}).get("AWSTraceHeader")
        # The job's lines carry the id of the request (or tick run) that queued it; a message
        # sent before messages carried one gets its own, so its lines still belong together.
        with context.bound(
            correlation_id=message.correlation_id or context.new_correlation_id(),
            job_id=message.job_id,
            store_id=message.store_id,
            plugin_id=message.plugin_id,
            trace_header=from_xray(trace) if trace else None,
        ):
            return self._handle_message(
                record, message, source_queue, queue_url, remaining_s=remaining_s, shortened_at=shortened_at
            )

    def _handle_message(
        self,
        record: dict[str, Any],
        message: JobMessage,
        source_queue: str,
        queue_url: str,
        *,
        remaining_s: Callable[[], float] | None,
        shortened_at: float | None,
    ) -> RecordResult:
        receipt = record["receiptHandle"]
        run = functools.partial(self._run, remaining_s=remaining_s, shortened_at=shortened_at)
        # The message says when its job is due: hold it until then, and the claim below succeeds
        # without the refused claim and read a job found early would cost.
        now = self._hold_until(message.due_at) if message.due_at else self.clock.now()
        try:
            # Optimistic: most messages find their job pending and due, so claim without reading.
            job = self.store.claim_due(message.job_id, **self._lease(now), due_by=to_iso(now))
        except ClaimRefusedError as refused:
            if refused.current is None:
                logger.error("message %s names missing job %s", record.get("messageId"), message.job_id)
                self._park(source_queue, queue_url, record, "job not found")
                return RecordResult(Outcome.DONE, "missing job")
            if self._renewed_before_retention_ends(record, refused.current, now):
                return RecordResult(Outcome.DONE, "renewed: a fresh message waits instead")
            try:
                return self._handle_job(refused.current, queue_url, receipt, run)
            except StaleWriteError:
                # Someone changed the job between our read and our write: look again later.
                self._set_visibility(queue_url, receipt, 1)
                return RecordResult(Outcome.KEEP, "raced")
        return run(job, queue_url, receipt)

    def _hold_until(self, due_at: str) -> datetime:
        """Wait until ``due_at`` if it is at most EARLY_TOLERANCE_S away; answers the time then."""
        now = self.clock.now()
        early_s = (from_iso(due_at) - now).total_seconds()
        if 0 < early_s <= EARLY_TOLERANCE_S:
            self.clock.sleep(early_s)
            now = self.clock.now()
        return now

    def _renewed_before_retention_ends(self, record: dict[str, Any], job: Job, now: datetime) -> bool:
        """A job due far ahead waits on its message's visibility, but SQS drops a message 14 days
        after it was sent, however often it hopped: an old message hands over to a fresh one."""
        if job.status not in CLAIMABLE_STATUSES:
            return False
        if _seconds_until_due(job, now) <= EARLY_TOLERANCE_S:
            return False
        sent_ms = (record.get("attributes") or {}).get("SentTimestamp")
        if sent_ms is None or now.timestamp() - int(sent_ms) / 1000 < MESSAGE_RENEW_AGE_S:
            return False
        self.queues.send(job.priority, JobMessage.of(job, due_at=job.due_at))
        return True

    def _park(self, source_queue: str, queue_url: str, record: dict[str, Any], reason: str) -> None:
        """Forward to the DLQ and delete at once, not with the batch: if the process dies on a
        later record, the batch comes back, and each redelivery would park another copy."""
        self.queues.forward_to_dead_letter(source_queue, record["body"], reason)
        if self.metrics is not None:
            self.metrics.parked(source_queue.removeprefix(self.settings.queue_prefix))
        try:
            self.queues.delete(queue_url, record["receiptHandle"])
        except Exception:
            logger.exception("parked message %s not deleted; Lambda deletes it with the batch", record.get("messageId"))

    def _handle_job(
        self, job: Job, queue_url: str, receipt: str, run: Callable[[Job, str, str], RecordResult]
    ) -> RecordResult:
        now = self.clock.now()
        if is_terminal(job.status):
            if (job.cron_job_id and not job.outcome_recorded) or job.batch_id:
                # Whoever finished it may have died before counting it on its cron job or its
                # batch (or before ending the batch): count it now; a count made is not repeated.
                self._notify_finished(job)
            return RecordResult(Outcome.DONE, f"already {job.status.value}")
        if job.status in CLAIMABLE_STATUSES and job.attempt_started_at is None and is_expired(job.start_by, now):
            return self._expire(job, now)
        if job.status in CLAIMABLE_STATUSES:
            wait_s = _seconds_until_due(job, now)
            if wait_s > EARLY_TOLERANCE_S:
                # Delays beyond SQS's 15 minutes, or a duplicate of a message in backoff. Whole
                # seconds, rounded down: back early, the message is held for the rest.
                self._set_visibility(queue_url, receipt, math.floor(wait_s))
                return RecordResult(Outcome.KEEP, "not due")
            now = self._hold_until(job.due_at)
            return run(self.store.claim(job, **self._lease(now)), queue_url, receipt)
        # running or cancelling
        lease_left = (from_iso(job.lease_until).timestamp() - now.timestamp()) if job.lease_until else 0.0
        if lease_left > 0:
            # A duplicate delivery while another worker holds the job: come back when its
            # lease would have lapsed, and find the job finished (or abandoned) then.
            self._set_visibility(queue_url, receipt, lease_left + 1)
            return RecordResult(Outcome.KEEP, "held by another worker")
        stamp = to_iso(now)
        if job.status == JobStatus.CANCELLING:
            cancelled = self.store.transition(job, JobStatus.CANCELLED, now=stamp, completed_at=stamp)
            if self.metrics is not None:
                self.metrics.ended(cancelled)
            self._notify_finished(cancelled)
            return RecordResult(Outcome.DONE, "cancelled after worker loss")
        if not has_retries_left(job.attempts, job.max_retries):
            abandoned = self.store.transition(
                job,
                JobStatus.FAILED,
                now=stamp,
                completed_at=stamp,
                error=f"The worker stopped (crash or timeout) during attempt {job.attempts} of "
                f"{job.max_retries + 1}; no retries left.",
            )
            self._notify_finished(abandoned)
            if self.metrics is not None:
                self.metrics.count(Metric.JOBS_ABANDONED, abandoned)
                self.metrics.ended(abandoned)
            return RecordResult(Outcome.DONE, "abandoned, out of retries")
        logger.warning("job %s: lease lapsed during attempt %s; running it again", job.id, job.attempts)
        return run(self.store.claim(job, **self._lease(now)), queue_url, receipt)

    def _expire(self, job: Job, now: datetime) -> RecordResult:
        """A claim refused past the job's start deadline: it ends ``expired`` and its message goes.

        Conditional on the status and version read (the claim's refusal handed the item back), so
        a cancel or a claim that won meanwhile stands; this message then looks again.
        """
        stamp = to_iso(now)
        expired = self.store.transition(
            job, JobStatus.EXPIRED, now=stamp, completed_at=stamp, error=expired_reason(job.start_by or stamp)
        )
        logger.info("job %s: not started by %s; expired", job.id, job.start_by)
        if self.metrics is not None:
            self.metrics.ended(expired)
        self._notify_finished(expired)
        return RecordResult(Outcome.DONE, JobStatus.EXPIRED.value)

    def _lease(self, now: Any) -> dict[str, str]:
        return {
            "lease_token": uuid.uuid4().hex,
            "now": to_iso(now),
            "lease_until": to_iso(now + timedelta(seconds=self.settings.lease_s)),
        }

    def _run(
        self,
        job: Job,
        queue_url: str,
        receipt: str,
        *,
        remaining_s: Callable[[], float] | None = None,
        shortened_at: float | None = None,
    ) -> RecordResult:
        # The claimed job says the rest of what its lines carry; the secrets its handler reveals
        # are scrubbed from every line written until the attempt is recorded.
        with context.bound(
            job_id=job.id,
            store_id=job.store_id,
            plugin_id=job.plugin_id,
            type=job.type,
            priority=job.priority.value,
            attempt=job.attempts,
            cron_job_id=job.cron_job_id,
            keep_secrets=True,
        ):
            return self._run_attempt(job, queue_url, receipt, remaining_s=remaining_s, shortened_at=shortened_at)

    def _run_attempt(
        self,
        job: Job,
        queue_url: str,
        receipt: str,
        *,
        remaining_s: Callable[[], float] | None,
        shortened_at: float | None,
    ) -> RecordResult:
        if shortened_at is None or time.monotonic() - shortened_at > self.settings.lease_s / 3:
            # The batch's lease is old (or was never set): renew it now, so a crash here brings
            # the job back within a lease, not after 6x the function timeout.
            self._set_visibility(queue_url, receipt, self.settings.lease_s)
        job = self.store.values.load([job])[0]  # its payload and checkpoint, if they live in S3
        attempt = Attempt(
            job=job,
            store=self.store,
            queues=self.queues,
            queue_url=queue_url,
            receipt_handle=receipt,
            clock=self.clock,
            lease_s=self.settings.lease_s,
            progress_interval_s=self.settings.progress_interval_s,
            max_log_lines=self.settings.max_log_lines,
            on_overrun=lambda error: self._after_failure(attempt, error, queue_url, receipt),
            remaining_s=remaining_s,
            continue_margin_s=self.settings.continue_margin_s,
        )
        # A run resuming from its checkpoint already passed these checks when it started.
        if job.cron_job_id is not None and job.checkpoint is None:
            waiting = self._apply_cron_rules(attempt, queue_url, receipt)
            if waiting is not None:
                return waiting
        try:
            handler_cls = self.registry.get(job.type).handler
        except UnknownJobTypeError as exc:
            self._finish(attempt, JobStatus.FAILED, error=exc.message)
            return RecordResult(Outcome.DONE, "unknown type")
        if self.metrics is not None:
            self.metrics.started(job)
        attempt.start_heartbeat()
        try:
            if job.status == JobStatus.CANCELLING:
                raise JobCancelled()
            result = build_handler(handler_cls, job, attempt, self.platform).execute()
        except JobCancelled as signal:
            attempt.stop_heartbeat()
            return self._finish(attempt, JobStatus.CANCELLED, result=signal.partial_result, error="cancelled")
        except ContinueLater:
            attempt.stop_heartbeat()
            return self._continue_later(attempt)
        except LeaseLost:
            attempt.stop_heartbeat()
            logger.warning("job %s: lease lost; the attempt that took over owns the job", job.id)
            return RecordResult(Outcome.KEEP, "lease lost")
        except Exception as exc:
            attempt.stop_heartbeat()
            return self._after_failure(attempt, exc, queue_url, receipt)
        finally:
            # Whatever escapes (SystemExit, a crash stand-in in tests) stops the renewals too:
            # a lease nobody renews is what brings the job back.
            attempt.stop_heartbeat()
        return self._finish(attempt, JobStatus.COMPLETED, result=result, progress=100)

    def _continue_later(self, attempt: Attempt) -> RecordResult:
        """The invocation nears its time limit: save the checkpoint, queue the job for a fresh one.

        Order matters: the job is pending before the new message exists, and this message is
        deleted only after the send; a crash in between leaves this message to bring it back.
        """
        job = attempt.job
        now = self.clock.now()
        try:
            suspended = self.store.suspend(
                job.id,
                lease_token=attempt.token,
                now=to_iso(now),
                checkpoint=attempt.checkpoint_state,
                log_lines=attempt.flush_logs(now),
            )
        except CancelAcknowledgedError:
            return self._finish(attempt, JobStatus.CANCELLED, error="cancelled")
        except StaleWriteError:
            logger.warning("job %s: lease lost before handing over; the attempt that took over owns it", job.id)
            return RecordResult(Outcome.KEEP, "lease lost at hand-over")
        self.queues.send(job.priority, JobMessage.of(job))
        logger.info("job %s: continues in a fresh invocation (%s so far)", job.id, suspended.continuations)
        return RecordResult(Outcome.DONE, "continues in a fresh invocation")

    def _apply_cron_rules(self, attempt: Attempt, queue_url: str, receipt: str) -> RecordResult | None:
        """A claimed cron run: skipped if its cron job no longer wants it, then the overlap policy.

        Skipped as the overlap policy skips (cancelled, ``result.skipped``), so the cron job
        counts it as skipped rather than failed.
        """
        job = attempt.job
        reason = self.cron_gate(job) if self.cron_gate is not None else None
        if reason is not None:
            return self._finish(
                attempt, JobStatus.CANCELLED, error=f"skipped: {reason}", result={"skipped": True, "reason": reason}
            )
        if job.run_after is not None and job.overlap_policy is not None:
            return self._apply_overlap_policy(attempt, queue_url, receipt)
        return None

    def _apply_overlap_policy(self, attempt: Attempt, queue_url: str, receipt: str) -> RecordResult | None:
        """A cron run whose previous run still runs: skip it, or (buffer_one) wait for it.

        Decided here, when the run is due, not when the tick queued it a minute ahead.
        """
        job = attempt.job
        before = self.store.get(job.run_after) if job.run_after else None
        if before is None or is_terminal(before.status):
            return None
        waits = job.overlap_policy == "buffer_one" and before.status != JobStatus.PENDING
        if not waits:
            # skip, or buffer_one with a run already waiting: at most one may wait.
            reason = (
                f"skipped: the previous run {before.id} was still {before.status.value}"
                if before.status != JobStatus.PENDING
                else f"skipped: run {before.id} already waits its turn"
            )
            return self._finish(
                attempt, JobStatus.CANCELLED, error=reason, result={"skipped": True, "previous_run": before.id}
            )
        now = self.clock.now()
        try:
            self.store.release(
                job,
                lease_token=attempt.token,
                now=to_iso(now),
                not_before=to_iso(now + timedelta(seconds=self.settings.run_after_poll_s)),
            )
        except CancelAcknowledgedError:
            # Cancelled since the claim: putting it back to wait would undo the cancel.
            return self._finish(attempt, JobStatus.CANCELLED, error="cancelled")
        except StaleWriteError:
            return RecordResult(Outcome.KEEP, "lease lost before waiting")
        self._set_visibility(queue_url, receipt, self.settings.run_after_poll_s)
        return RecordResult(Outcome.KEEP, "waiting for the previous run")

    def _after_failure(self, attempt: Attempt, exc: Exception, queue_url: str, receipt: str) -> RecordResult:
        job = attempt.job
        error = error_text(exc)
        logger.warning("job %s attempt %s failed: %s\n%s", job.id, job.attempts, error, traceback.format_exc())
        attempt.log(failed_attempt_line(job.attempts, error))
        if isinstance(exc, PermanentJobError) or not has_retries_left(job.attempts, job.max_retries):
            return self._finish(attempt, JobStatus.FAILED, error=error)
        delay_s = compute_backoff(job.attempts, self.settings.backoff_s)
        next_at = to_iso(self.clock.now() + timedelta(seconds=delay_s))
        outcome = self._finish(attempt, JobStatus.RETRYING, error=error, next_attempt_at=next_at)
        # Only a recorded retry keeps its message for the backoff (a cancel may have ended the job instead).
        if outcome.reason == JobStatus.RETRYING.value:
            self._set_visibility(queue_url, receipt, delay_s)
            return RecordResult(Outcome.KEEP, f"retry in {delay_s}s")
        return outcome

    def _finish(self, attempt: Attempt, status: JobStatus, **fields: Any) -> RecordResult:
        """Record how the attempt ended: one write, conditional on its lease.

        Two ends are not the handler's to choose. A cancel acknowledged while the attempt ran
        (``cancelling``) ends it ``cancelled``, whatever the handler did. A result over
        MAX_RESULT_BYTES fails the job for good (a retry would return as much again), rather
        than being dropped from a job reported completed.
        """
        result = fields.get("result")
        size = len(encode_value(result)) if result is not None else 0
        if size > MAX_RESULT_BYTES:
            status, fields = self._without_result(attempt, status, fields, size)
        try:
            try:
                finished = self._write_finish(attempt, status, fields)
            except CancelAcknowledgedError:
                status, fields = JobStatus.CANCELLED, self._cancelled_instead(attempt, status, fields)
                finished = self._write_finish(attempt, status, fields)
        except StaleWriteError:
            # Our lease lapsed and another attempt took the job: its outcome stands, not ours.
            logger.warning("job %s: finished after losing the lease; result dropped", attempt.job.id)
            return RecordResult(Outcome.KEEP, "lease lost at finish")
        if self.metrics is not None:
            self.metrics.ended(finished, self.clock.now(), attempt.job.attempt_started_at)
        self._notify_finished(finished)
        return RecordResult(Outcome.DONE, status.value)

    def _write_finish(self, attempt: Attempt, status: JobStatus, fields: dict[str, Any]) -> Job:
        now = self.clock.now()
        unwritten = attempt.unwritten_progress()
        if unwritten:  # a throttled report: the last one stands (a completion's 100 % over it)
            fields = {"progress": unwritten["progress"], "progress_message": unwritten["message"], **fields}
        return self.store.finish(
            attempt.job.id,
            latest=attempt.latest,
            lease_token=attempt.token,
            status=status,
            now=to_iso(now),
            log_lines=attempt.flush_logs(now),
            **fields,
        )

    def _without_result(
        self, attempt: Attempt, status: JobStatus, fields: dict[str, Any], size: int
    ) -> tuple[JobStatus, dict[str, Any]]:
        """The end to record when the result cannot be stored: never a success without its result."""
        problem = result_too_large(size)
        rest = {name: value for name, value in fields.items() if name not in ("result", "progress")}
        if status == JobStatus.COMPLETED:
            attempt.log(failed_attempt_line(attempt.job.attempts, problem))
            return JobStatus.FAILED, {**rest, "error": problem}
        # A cancelled run's partial result: still cancelled, and the error says what was lost.
        error = result_dropped(fields.get("error") or status.value, problem)
        attempt.log(error)
        return status, {**rest, "error": error}

    def _cancelled_instead(self, attempt: Attempt, status: JobStatus, fields: dict[str, Any]) -> dict[str, Any]:
        """What a cancelled end records in place of the attempt's own (``status`` with ``fields``).

        The cancel was acknowledged (the job showed ``cancelling``), so the job ends cancelled;
        a result the handler returned anyway is kept, and the error says what happened.
        """
        if status == JobStatus.COMPLETED:
            error = CANCELLED_AFTER_FINISHING
            kept = {"result": fields["result"]} if fields.get("result") is not None else {}
        else:
            reason = fields.get("error") or status.value
            error = cancelled_after_failing(reason)
            kept = {}
        attempt.log(error)
        return {**kept, "error": error}

    def _notify_finished(self, job: Job) -> None:
        if self.on_finished is None or not is_terminal(job.status):
            return
        try:
            self.on_finished(job)
        except Exception:
            # The job's own outcome is recorded; a listener's failure must not turn it into a retry.
            logger.exception("job %s: finish listener failed", job.id)

    def _set_visibility(self, queue_url: str, receipt: str, seconds: float) -> None:
        try:
            self.queues.set_visibility(queue_url, receipt, seconds)
        except QueueGoneError:
            logger.warning("could not change visibility: the message is gone")


def _seconds_until_due(job: Job, now: datetime) -> float:
    """How long a claimable job still waits: for its backoff if it has one, else its schedule."""
    return (from_iso(job.due_at) - now).total_seconds()
