"""Batch use cases: create, read, list children, cancel; count each child's end; run callbacks.

Creation stores the batch ``creating`` with its total, then its children (BatchWriteItem, 25 at
a time; ids derived from the batch's), then sends their messages (SendMessageBatch, ten at a
time), then opens the batch. A crash on the way leaves a ``creating`` batch that the tick's
sweep settles once SETTLE_AFTER_S have passed: every child stored -> their messages are sent
(again: a second message is harmless) and the batch opens; fewer -> the batch opens with the
children that were stored and cancels them (the caller was never told the batch exists, and
running part of it would run work twice when they ask again). Either way it ends, and its
on_complete runs.

A child's end is counted once (DynamoBatchStore.count); the write that makes the batch final is
conditioned on the counts it read, so exactly one caller wins it, and that caller (or whoever
finds the batch final with its callbacks unsent: a redelivered child's message, the sweep) queues
the callbacks under derived ids, so a second enqueue finds the first job.
"""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from chalicelib.audit import appended
from chalicelib.auth import SYSTEM_PRINCIPAL, Principal, Role
from chalicelib.batches.model import (
    SUMMARY_KEY,
    Batch,
    BatchRequest,
    BatchState,
    Callback,
    CallbackRequest,
    LiveCounts,
    batch_id_for,
    callback_id,
    child_id,
    unfinished_keys,
)
from chalicelib.batches.store import BatchExistsError, DynamoBatchStore
from chalicelib.batches.views import callback_job_ids
from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.errors import (
    BadRequestError,
    ConflictError,
    JobStateError,
    NotFoundError,
    StaleWriteError,
    TickworkError,
    TooManyRequestsError,
)
from chalicelib.jobs.lifecycle import JobStatus, Priority, is_terminal
from chalicelib.jobs.model import Job, JobMessage, ScheduleJobRequest, is_generated_id, parse_model
from chalicelib.jobs.service import JobService
from chalicelib.jobs.store import JobPage
from chalicelib.metrics import Metric
from chalicelib.rights import Rights

logger = logging.getLogger(__name__)

# A creating batch untouched this long lost its creator (an API request lasts at most 30 s).
SETTLE_AFTER_S = 300
# How many batches one sweep key yields per tick.
SWEEP_LIMIT = 20
MAX_WRITE_ATTEMPTS = 8


# A batch larger than what is left of its store's minute of schedules starts the rest in the next
# minutes, up to this many (1,000 children fit at a limit of 100 a minute).
SPREAD_MINUTES = 10


def spread_over_minutes(children: list[Job], shares: list[int], now: datetime) -> list[Job]:
    """The children in order, those past the first minute's share due no earlier than the start
    of the minute that admitted them (the rate limit counts runs, and they run then)."""
    spread: list[Job] = []
    minute_start = now.replace(second=0, microsecond=0)
    for offset, share in enumerate(shares):
        not_before = to_iso(minute_start + timedelta(minutes=offset))
        for child in children[len(spread) : len(spread) + share]:
            later = offset > 0 and child.scheduled_at < not_before
            spread.append(child.model_copy(update={"scheduled_at": not_before}) if later else child)
    return spread + children[len(spread) :]


class BatchNotFoundError(NotFoundError):
    code = "batch_not_found"


class BatchService:
    def __init__(self, *, store: DynamoBatchStore, jobs: JobService, clock: Clock) -> None:
        self.store = store
        self.jobs = jobs
        self.clock = clock

    # --- create ----------------------------------------------------------------------------

    def create(self, request: BatchRequest, principal: Principal) -> tuple[Batch, bool]:
        """Validate every child as a single schedule (all or nothing), then store and send them."""
        store_id = principal.store_for_new_job(request.store_id)
        plugin_id = principal.plugin_for_new_job(None)
        batch_id = batch_id_for(store_id, request.idempotency_key)
        children = [self._child(index, body, batch_id, store_id, principal) for index, body in enumerate(request.jobs)]
        callbacks = {"on_complete": request.on_complete, "on_success": request.on_success}
        for field, callback in callbacks.items():
            if callback is not None:
                self._check_callback(field, callback, store_id, principal)
        shares = self._admit(store_id, len(children) + sum(c is not None for c in callbacks.values()))
        now = self.clock.now()
        children = spread_over_minutes(children, shares, now)
        stamp = to_iso(now)
        batch = Batch(
            id=batch_id,
            store_id=store_id,
            plugin_id=plugin_id,
            state=BatchState.CREATING,
            total=len(children),
            completed=0,
            failed=0,
            cancelled=0,
            created_at=stamp,
            updated_at=stamp,
            created_by=principal.label,
            rights=Rights.of(principal),
            description=request.description,
            on_complete=request.on_complete,
            on_success=request.on_success,
        )
        try:
            self.store.create(batch)
        except BatchExistsError:
            existing = self.store.get(batch_id)
            if existing is None or not principal.can_see(existing.store_id, existing.plugin_id):
                raise ConflictError(
                    "That idempotency key is already used by another batch in this store.",
                    code="idempotency_key_in_use",
                ) from None
            return existing, False
        self.jobs.store.create_many(children)
        try:
            self._send(children, now)
        except Exception:
            # Stored, not (all) sent: the sweep sends them and opens the batch.
            logger.exception("batch %s: children stored, messages not all sent; the sweep sends them", batch_id)
            return batch, True
        if self.jobs.metrics is not None:
            for child in children:
                self.jobs.metrics.count(Metric.JOBS_SCHEDULED, child)
        return self.store.open(batch, now=stamp), True

    def create_for_job(self, job: Job, body: dict[str, Any]) -> dict[str, Any]:
        """A batch a running job's handler asks for, with the job's own rights (never more)."""
        batch, _ = self.create(parse_model(BatchRequest, body), job.acting_rights.principal)
        return batch.summary()

    def _child(self, index: int, body: Any, batch_id: str, store_id: str, principal: Principal) -> Job:
        prefix = f"jobs[{index}]"
        try:
            request = parse_model(ScheduleJobRequest, body, field_prefix=prefix)
            if request.idempotency_key is not None:
                raise BadRequestError(
                    "A batch's children take no idempotency_key; give the batch one.",
                    code="validation_error",
                    details=[{"field": f"{prefix}.idempotency_key", "message": "not allowed in a batch"}],
                )
            if request.store_id not in (None, store_id):
                raise BadRequestError(
                    f"Every child belongs to the batch's store {store_id!r}.",
                    code="batch_store_mismatch",
                    details=[{"field": f"{prefix}.store_id", "message": "differs from the batch's store_id"}],
                )
            request = request.model_copy(update={"store_id": store_id})
            return self.jobs.build_job(
                request, principal, admit=False, job_id=child_id(batch_id, index), batch_id=batch_id
            )
        except TickworkError as error:
            if not error.message.startswith(prefix):
                error.message = f"{prefix}: {error.message}"
                error.args = (error.message,)
                error.details = [_under(prefix, detail) for detail in error.details] or [{"field": prefix}]
            raise

    def _check_callback(self, field: str, callback: CallbackRequest, store_id: str, principal: Principal) -> None:
        if SUMMARY_KEY in callback.payload:
            raise BadRequestError(
                f"{field}.payload.{SUMMARY_KEY} is reserved: the callback receives the batch's summary there.",
                code="validation_error",
                details=[{"field": f"{field}.payload.{SUMMARY_KEY}", "message": "reserved"}],
            )
        request = ScheduleJobRequest(
            type=callback.type, payload=callback.payload, priority=callback.priority, store_id=store_id
        )
        try:
            self.jobs.build_job(request, principal, admit=False)
        except TickworkError as error:
            error.message = f"{field}: {error.message}"
            error.args = (error.message,)
            error.details = [_under(field, detail) for detail in error.details] or [{"field": field}]
            raise

    def _admit(self, store_id: str, count: int) -> list[int]:
        """How many jobs each minute from now admits (the store's rate limit; the callbacks last)."""
        limiter = self.jobs.rate_limiter
        if limiter is None:
            return [count]
        try:
            return limiter.admit_spread(store_id, count, minutes=SPREAD_MINUTES)
        except TooManyRequestsError:
            if self.jobs.metrics is not None:
                self.jobs.metrics.metrics.count(Metric.RATE_LIMIT_REFUSALS, store_id=store_id)
            raise

    def _send(self, jobs: list[Job], now: datetime) -> None:
        by_priority: dict[Priority, list[tuple[JobMessage, int]]] = {}
        for job in jobs:
            delay_s = max(0.0, (from_iso(job.due_at) - now).total_seconds())
            message = JobMessage.of(job, due_at=job.due_at if delay_s > 0 else None)
            by_priority.setdefault(job.priority, []).append((message, math.floor(delay_s)))
        for priority, messages in by_priority.items():
            self.jobs.queues.send_many(priority, messages)

    # --- read ------------------------------------------------------------------------------

    def get(self, batch_id: str, principal: Principal) -> Batch:
        batch = self.store.get(batch_id) if is_generated_id(batch_id) else None
        if batch is None or not principal.can_see(batch.store_id, batch.plugin_id):
            # Another tenant's batch answers exactly as a missing one.
            raise BatchNotFoundError(f"No batch {batch_id!r}.")
        return batch

    def list(
        self,
        principal: Principal,
        *,
        store_id: str | None,
        state: BatchState | None,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[Batch], str | None]:
        """A store's batches, newest first: the store named (or the token's only one); a plugin's own only."""
        if store_id is None:
            if principal.is_admin or len(principal.stores) != 1:
                raise BadRequestError(
                    "Name a store_id: batches are listed a store at a time.",
                    code="store_id_required",
                    details=[{"field": "store_id", "message": "required"}],
                )
            store_id = next(iter(principal.stores))
        principal.require_store(store_id)
        plugin_id = principal.plugin_id if principal.role == Role.PLUGIN else None
        return self.store.listed(store_id, state=state, plugin_id=plugin_id, limit=limit, next_token=next_token)

    def callback_jobs(self, batch: Batch) -> dict[Callback, Job]:
        """The callbacks' jobs that exist (none before the batch is final: they are queued then)."""
        if not batch.is_final:
            return {}
        found = {which: self.jobs.store.get(job_id) for which, job_id in callback_job_ids(batch).items()}
        return {which: job for which, job in found.items() if job is not None}

    def live(self, batch: Batch) -> LiveCounts:
        """Its unfinished children now (none to read once the batch is final)."""
        return LiveCounts() if batch.is_final else self.store.live(batch.id)

    def children(
        self, batch_id: str, principal: Principal, *, status: JobStatus | None, limit: int, next_token: str | None
    ) -> JobPage:
        batch = self.get(batch_id, principal)
        jobs, token = self.store.children(batch.id, status=status, limit=limit, next_token=next_token)
        return JobPage(jobs=jobs, next_token=token)

    # --- cancel ----------------------------------------------------------------------------

    def cancel(self, batch_id: str, principal: Principal) -> Batch:
        """Cancel every child not yet finished, each as its own cancel would (pending: at once;
        running: cancelling until its handler notices). Finished children stay as they are."""
        batch = self.get(batch_id, principal)
        if batch.state == BatchState.CREATING:
            raise ConflictError(
                f"Batch {batch_id} is still being created; cancel it once it is open.", code="batch_creating"
            )
        for child in self.store.all_children(batch.id):
            if is_terminal(child.status) or child.status == JobStatus.CANCELLING:
                continue
            with contextlib.suppress(JobStateError):  # it finished meanwhile
                self.jobs.cancel(child.id, principal)
        return self.get(batch_id, principal)

    # --- counting (a job listener) --------------------------------------------------------

    def __call__(self, job: Job) -> None:
        """Called for a job that reached a final status (and again on a redelivered final one)."""
        if job.batch_id is None or not is_terminal(job.status):
            return
        self.store.count(job)
        self.settle(job.batch_id)

    def settle(self, batch_id: str) -> Batch | None:
        """Make a fully counted batch final, and queue a final batch's callbacks if not yet done."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            batch = self.store.get(batch_id)
            if batch is None:
                return None
            now = to_iso(self.clock.now())
            if batch.state == BatchState.OPEN and batch.done >= batch.total:
                try:
                    batch = self.store.finish(batch, now=now)
                except StaleWriteError:
                    continue  # counted again (or finished by another) meanwhile: read it again
            if batch.is_final and not batch.callbacks_sent:
                self._enqueue_callbacks(batch)
                try:
                    batch = self.store.callbacks_sent(batch, now=now, expires_at=self.jobs.store.expiry(now))
                except StaleWriteError:
                    continue
            return batch
        raise ConflictError(f"Batch {batch_id} kept changing; try again.", code="write_contention")

    def _enqueue_callbacks(self, batch: Batch) -> None:
        now = self.clock.now()
        stamp = to_iso(now)
        for which, callback in batch.callbacks_due():
            job = Job(
                id=callback_id(batch.id, which),
                type=callback.type,
                priority=callback.priority,
                status=JobStatus.PENDING,
                payload={**callback.payload, SUMMARY_KEY: batch.summary()},
                store_id=batch.store_id,
                plugin_id=batch.plugin_id,
                metadata={"batch_callback": which.value, "callback_of": batch.id},
                max_retries=self.jobs.settings.default_max_retries,
                created_at=stamp,
                updated_at=stamp,
                scheduled_at=stamp,
                created_by=batch.created_by,
                rights=batch.rights,
                audit=appended([], "created", f"batch:{batch.id}", stamp),
            )
            # Derived id: a second enqueue (after a crash) finds this job and, pending, re-sends it.
            self.jobs.submit(job, now, batch.rights.principal)

    # --- the tick's sweep -------------------------------------------------------------------

    def sweep(self, now: datetime) -> int:
        """Settle batches left unfinished SETTLE_AFTER_S ago: a creation cut short, a count or a
        callback a crash left undone. Answers how many it looked at."""
        before = to_iso(now - timedelta(seconds=SETTLE_AFTER_S))
        looked = 0
        for key in unfinished_keys():
            for batch in self.store.unfinished(key, updated_before=before, limit=SWEEP_LIMIT):
                looked += 1
                try:
                    self.repair(batch)
                except Exception:
                    logger.exception("batch %s: sweep could not settle it; next tick tries again", batch.id)
        return looked

    def repair(self, batch: Batch) -> None:
        now = self.clock.now()
        stamp = to_iso(now)
        if batch.state == BatchState.CREATING:
            children = self.store.all_children(batch.id)
            if len(children) == batch.total:
                self._send([child for child in children if child.status == JobStatus.PENDING], now)
                batch = self.store.open(batch, now=stamp)
            else:
                note = (
                    f"creation was cut short: {len(children)} of {batch.total} children were stored, and were cancelled"
                )
                batch = self.store.open(batch, now=stamp, total=len(children), note=note)
                for child in children:
                    if not is_terminal(child.status) and child.status != JobStatus.CANCELLING:
                        with contextlib.suppress(JobStateError):
                            self.jobs.cancel(child.id, SYSTEM_PRINCIPAL)
        elif batch.state == BatchState.OPEN:
            for child in self.store.all_children(batch.id):
                if is_terminal(child.status) and not child.batch_counted:
                    self.store.count(child)
        settled = self.settle(batch.id)
        if settled is not None and settled.state == BatchState.OPEN:
            self.store.touch(settled, now=stamp)  # looked at: next look after another SETTLE_AFTER_S


def _under(prefix: str, detail: Any) -> Any:
    if isinstance(detail, dict) and "field" in detail and not str(detail["field"]).startswith(prefix):
        return {**detail, "field": f"{prefix}.{detail['field']}"}
    return detail
