"""Background-job use cases shared by the HTTP API and in-process plugin code."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.audit import appended
from chalicelib.auth import SYSTEM_PRINCIPAL, Principal, Role
from chalicelib.aws.queues import SqsPriorityQueues
from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.config import Settings
from chalicelib.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    JobNotFoundError,
    JobStateError,
    PayloadTooLargeError,
    StaleWriteError,
    TooManyRequestsError,
)
from chalicelib.jobs.job_metrics import JobMetrics
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, RETRYABLE_BY_USER_STATUSES, JobStatus
from chalicelib.jobs.model import Job, JobMessage, ScheduleJobRequest, is_generated_id, parse_model
from chalicelib.jobs.rate_limit import ScheduleRateLimiter
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.jobs.store import DynamoJobStore, JobExistsError, JobFilter, JobPage
from chalicelib.jobs.windowing import WindowScheduler, check_window_request
from chalicelib.jobs.windows import start_deadline
from chalicelib.metrics import Metric
from chalicelib.references import ReferencePolicy, rule_for
from chalicelib.rights import Rights
from chalicelib.templating import check_placeholders

logger = logging.getLogger(__name__)

# A fixed namespace so an idempotency key maps to the same job id in every process.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6b0c8f4e-2a77-4e52-9a6e-6c7f3f0b9d11")
# Conditional writes that lose a race re-read and try again this many times.
MAX_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class ScheduleOutcome:
    job: Job
    created: bool
    # Answered with a debounce window's job (collapsed into it) or a dedup window's first job.
    debounced: bool = False
    deduplicated: bool = False


class JobService:
    def __init__(
        self,
        *,
        store: DynamoJobStore,
        queues: SqsPriorityQueues,
        registry: JobTypeRegistry,
        clock: Clock,
        settings: Settings,
        on_finished: Callable[[Job], None] | None = None,
        rate_limiter: ScheduleRateLimiter | None = None,
        metrics: JobMetrics | None = None,
    ) -> None:
        self.metrics = metrics  # flushed by whoever serves the invocation (request, tick)
        self.on_finished = on_finished
        self.rate_limiter = rate_limiter
        self.store = store
        self.queues = queues
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.windows = WindowScheduler(store=store, windows=store.windows, enqueue=self._enqueue)

    # --- schedule ----------------------------------------------------------------------

    def schedule(
        self, request: ScheduleJobRequest, principal: Principal, *, cron_job_id: str | None = None
    ) -> ScheduleOutcome:
        job = self.build_job(request, principal, cron_job_id=cron_job_id, admit=True)
        now = from_iso(job.created_at)
        if request.debounce is None and request.dedup is None:
            return self.submit(job, now, principal)
        if request.debounce is not None:
            windowed = self.windows.debounce(job, request.debounce, now)
        else:
            windowed = self.windows.dedup(job, request.dedup, now)  # type: ignore[arg-type]
        if windowed.created and self.metrics is not None:
            self.metrics.count(Metric.JOBS_SCHEDULED, windowed.job)
        return ScheduleOutcome(
            job=windowed.job,
            created=windowed.created,
            debounced=windowed.debounced,
            deduplicated=windowed.deduplicated,
        )

    def build_job(
        self,
        request: ScheduleJobRequest,
        principal: Principal,
        *,
        cron_job_id: str | None = None,
        admit: bool,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> Job:
        """The job ``request`` asks for, checked as schedule checks it (rights, sizes, payload),
        not stored; ``admit`` counts it against its store's rate limit (a batch counts its
        children at once)."""
        job_type = self.registry.get(request.type)
        self.require_type_rights(request.type, principal)
        check_window_request(request)
        if batch_id is not None and (request.debounce is not None or request.dedup is not None):
            # A batch counts each child it made: a child collapsed into another job has no end of its own.
            raise BadRequestError(
                "A batch's jobs take no debounce nor dedup window.",
                code="validation_error",
                details=[
                    {"field": "debounce" if request.debounce is not None else "dedup", "message": "not in a batch"}
                ],
            )
        store_id = principal.store_for_new_job(request.store_id)
        plugin_id = principal.plugin_for_new_job(request.effective_plugin_id())
        self._check_sizes(request)
        payload = request.payload
        if job_type.plugin is None:  # built-in types take {{...}} templates; plugins' payloads are theirs
            rule = rule_for(admin=principal.is_admin, store_id=store_id, policy=ReferencePolicy.of(self.settings))
            check_placeholders(payload, "payload", rule)
        if job_type.payload_model is not None:
            payload = parse_model(
                job_type.payload_model, payload, field_prefix="payload", context=self.settings
            ).model_dump(mode="json", exclude_unset=True)
        max_retries = self.settings.default_max_retries if request.max_retries is None else request.max_retries
        if max_retries > self.settings.max_retries_limit:
            raise BadRequestError(
                f"maxRetries may be at most {self.settings.max_retries_limit}.",
                code="validation_error",
                details=[{"field": "maxRetries", "message": f"at most {self.settings.max_retries_limit}"}],
            )
        now = self.clock.now()
        scheduled = self._scheduled_at(request, now)
        start_by = self._start_by(request, now, scheduled)
        if admit:
            self.admit(store_id)
        if job_id is None:
            job_id = (
                str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{store_id}\n{request.idempotency_key}"))
                if request.idempotency_key
                else str(uuid.uuid4())
            )
        stamp = to_iso(now)
        return Job(
            id=job_id,
            type=request.type,
            priority=request.priority,
            status=JobStatus.PENDING,
            payload=payload,
            store_id=store_id,
            user_id=request.user_id,
            plugin_id=plugin_id,
            metadata=request.metadata,
            max_retries=max_retries,
            created_at=stamp,
            updated_at=stamp,
            scheduled_at=to_iso(scheduled),
            idempotency_key=request.idempotency_key,
            timeout_seconds=request.timeout_seconds,
            start_by=to_iso(start_by) if start_by is not None else None,
            cron_job_id=cron_job_id,
            created_by=principal.label,
            rights=Rights.of(principal),
            audit=appended([], "created", principal.label, stamp),
            batch_id=batch_id,
        )

    @staticmethod
    def _start_by(request: ScheduleJobRequest, now: datetime, scheduled: datetime) -> datetime | None:
        """The start deadline asked for; a 400 if it leaves the job no moment to start in.

        A debounced job's relative deadline counts from the latest moment its window may start it
        (later schedules push its start up to then): the burst itself never expires it.
        """
        if request.debounce is not None:
            latest = now + timedelta(seconds=request.debounce.max_wait_s)
            start_by = start_deadline(
                latest, expire_after_seconds=request.expire_after_seconds, expires_at=request.expires_at
            )
            due = now + timedelta(seconds=request.debounce.seconds)
        else:
            due = scheduled
            start_by = start_deadline(
                due, expire_after_seconds=request.expire_after_seconds, expires_at=request.expires_at
            )
        if start_by is not None and start_by <= due:
            raise BadRequestError(
                "expires_at must be after the job is due.",
                code="validation_error",
                details=[{"field": "expires_at", "message": "not after the job is due"}],
            )
        return start_by

    def admit(self, store_id: str) -> None:
        """Count one new run against the store's rate limit (429 when its minute is full).

        Every path that makes a job run counts: schedule, retry, a cron job's run-now and the
        tick's catch-up of missed slots.
        """
        if self.rate_limiter is None:
            return
        try:
            self.rate_limiter.admit(store_id)
        except TooManyRequestsError:
            if self.metrics is not None:
                self.metrics.metrics.count(Metric.RATE_LIMIT_REFUSALS, store_id=store_id)
            raise

    def require_type_rights(self, job_type: str, principal: Principal) -> None:
        """An admin-only type is admin-only for every action: create, run, pause, edit, delete, cancel, retry."""
        if principal.is_admin or not self.registry.is_admin_only(job_type):
            return
        raise ForbiddenError(f"Only an admin may act on {job_type!r} jobs.", code="admin_only_type")

    def submit(
        self, job: Job, now: datetime, principal: Principal = SYSTEM_PRINCIPAL, *, resend_after_s: float = 0.0
    ) -> ScheduleOutcome:
        """Store a new job and queue it; a job whose id exists answers the stored one instead.

        Ids are derived (idempotency key, cron slot), so "exists" means "asked before". A pending
        one is sent again if it was created at least ``resend_after_s`` ago (its sender may have died).
        """
        try:
            self.store.create(job)
        except JobExistsError:
            existing = self.store.get(job.id)
            if existing is None or not principal.can_see(existing.store_id, existing.plugin_id):
                raise ConflictError(
                    "That idempotency key is already used by another job in this store.", code="idempotency_key_in_use"
                ) from None
            age_s = (now - from_iso(existing.created_at)).total_seconds()
            if existing.status == JobStatus.PENDING and age_s >= resend_after_s:
                # The first request may have died between the put and the send; a second
                # message is harmless (the claim is conditional), a missing one loses the job.
                self._enqueue(existing, now)
            return ScheduleOutcome(job=existing, created=False)
        self._enqueue(job, now)
        if self.metrics is not None:
            self.metrics.count(Metric.JOBS_SCHEDULED, job)
        return ScheduleOutcome(job=job, created=True)

    def _check_sizes(self, request: ScheduleJobRequest) -> None:
        size = len(json.dumps(request.payload, separators=(",", ":")).encode())
        if size > self.settings.max_payload_bytes:
            raise PayloadTooLargeError(
                f"The payload is {size} bytes; the limit is {self.settings.max_payload_bytes}.",
                details=[{"field": "payload", "message": f"{size} bytes > {self.settings.max_payload_bytes}"}],
            )
        meta_size = len(json.dumps(request.metadata, separators=(",", ":")).encode())
        if meta_size > 16 * 1024:
            raise PayloadTooLargeError(
                f"metadata is {meta_size} bytes; the limit is 16384.",
                details=[{"field": "metadata", "message": "over 16384 bytes"}],
            )

    @staticmethod
    def _scheduled_at(request: ScheduleJobRequest, now: datetime) -> datetime:
        if request.delay is not None and request.run_at is not None:
            raise BadRequestError(
                "Give either delay or run_at, not both.",
                code="validation_error",
                details=[{"field": "run_at", "message": "conflicts with delay"}],
            )
        if request.delay is not None:
            return now + timedelta(seconds=request.delay)
        if request.run_at is not None:
            if request.run_at - now > timedelta(days=365):
                raise BadRequestError(
                    "run_at may be at most a year ahead.",
                    code="validation_error",
                    details=[{"field": "run_at", "message": "more than 365 days ahead"}],
                )
            return max(now, request.run_at)
        return now

    # --- sweeps (the tick) ------------------------------------------------------------------

    def lost_leases(self, before: str, *, limit: int) -> list[Job]:
        """Running or cancelling jobs whose lease ended before ``before``."""
        return self.store.expired_leases(before, limit=limit)

    def overdue_in_idle_queues(self, before: str, *, limit: int) -> list[Job]:
        """Pending or retrying jobs due before ``before``, in queues with no visible message."""
        idle = [priority.value for priority in PRIORITY_ORDER if self.queues.visible(priority) == 0]
        if not idle:
            return []
        return self.store.overdue_unclaimed(before, priorities=idle, limit=limit)

    def requeue(self, job: Job) -> None:
        """Send another message for a stored job (duplicates are harmless: claims are conditional)."""
        self._enqueue(job, self.clock.now())

    def _enqueue(self, job: Job, now: datetime) -> None:
        delay_s = max(0.0, (from_iso(job.due_at) - now).total_seconds())
        # SQS delays are whole seconds. Rounded up, a run started up to a second after its slot;
        # rounded down, the message arrives up to a second early and the worker, told when the
        # job is due, waits for that instant: a run starts on its slot, never before it.
        due_at = job.due_at if delay_s > 0 else None
        self.queues.send(job.priority, JobMessage.of(job, due_at=due_at), delay_s=math.floor(delay_s))

    # --- read --------------------------------------------------------------------------

    def get(self, job_id: str, principal: Principal) -> Job:
        # An id no job can have (a rate-limit counter's, say) is not looked up at all.
        job = self.store.get(job_id) if is_generated_id(job_id) else None
        if job is None or not principal.can_see(job.store_id, job.plugin_id):
            # Another tenant's job answers exactly as a missing one: ids leak nothing.
            raise JobNotFoundError(f"No job {job_id!r}.")
        return job

    def list(self, principal: Principal, job_filter: JobFilter, *, limit: int, next_token: str | None) -> JobPage:
        store_id = job_filter.store_id
        if not principal.is_admin:
            if store_id is None:
                if len(principal.stores) != 1:
                    raise BadRequestError(
                        "Name a store_id: this token may see several stores.",
                        code="store_id_required",
                        details=[{"field": "store_id", "message": "required"}],
                    )
                store_id = next(iter(principal.stores))
            else:
                principal.require_store(store_id)
        plugin_id = job_filter.plugin_id
        if principal.role == Role.PLUGIN:
            if plugin_id not in (None, principal.plugin_id):
                return JobPage(jobs=[], next_token=None)
            plugin_id = principal.plugin_id
        scoped = JobFilter(
            store_id=store_id,
            status=job_filter.status,
            type=job_filter.type,
            plugin_id=plugin_id,
            batch_id=job_filter.batch_id,
        )
        return self.store.list(scoped, limit=limit, next_token=next_token)

    def stats(self, principal: Principal, store_id: str | None) -> dict[str, Any]:
        """Counts by status, reading a bounded number of pages; ``exact`` False: the counts are lower bounds."""
        if principal.is_admin:
            scope = [store_id] if store_id else None
        else:
            scope = [store_id] if store_id in principal.stores else sorted(principal.stores)
        plugin_id = principal.plugin_id if principal.role == Role.PLUGIN else None
        tally = self.store.count_by_status(scope, plugin_id=plugin_id)
        answer: dict[str, Any] = {"counts": tally.counts, "total": sum(tally.counts.values()), "exact": tally.exact}
        if principal.is_admin:
            answer["queues"] = self.queues.depths()
        return answer

    # --- change ------------------------------------------------------------------------

    def cancel(self, job_id: str, principal: Principal) -> Job:
        for _ in range(MAX_WRITE_ATTEMPTS):
            job = self.get(job_id, principal)
            self.require_type_rights(job.type, principal)
            now = to_iso(self.clock.now())
            try:
                trail = appended(job.audit, "cancelled", principal.label, now)
                if job.status in (JobStatus.PENDING, JobStatus.RETRYING):
                    cancelled = self.store.transition(job, JobStatus.CANCELLED, now=now, completed_at=now, audit=trail)
                    if self.metrics is not None:
                        self.metrics.count(Metric.JOBS_CANCELLED, cancelled)
                    if self.on_finished is not None:
                        self.on_finished(cancelled)
                    return cancelled
                if job.status == JobStatus.RUNNING:
                    return self.store.transition(job, JobStatus.CANCELLING, now=now, audit=trail)
                if job.status == JobStatus.CANCELLING:
                    return job
            except StaleWriteError:
                continue
            raise JobStateError(f"Job {job_id} is already {job.status.value}; it cannot be cancelled.")
        raise ConflictError(f"Job {job_id} kept changing; try again.", code="write_contention")

    def retry(self, job_id: str, principal: Principal) -> Job:
        job = self.get(job_id, principal)
        self.require_type_rights(job.type, principal)
        if job.batch_id is not None:
            # Its end is counted on its batch once; running it again would leave that count wrong.
            raise JobStateError(
                f"Job {job_id} belongs to batch {job.batch_id}; schedule a new batch for its failures instead."
            )
        if job.status not in RETRYABLE_BY_USER_STATUSES:
            raise JobStateError(f"Job {job_id} is {job.status.value}; only failed or cancelled jobs can be retried.")
        self.admit(job.store_id)
        now = self.clock.now()
        stamp = to_iso(now)
        try:
            fresh = self.store.transition(
                job,
                JobStatus.PENDING,
                now=stamp,
                attempts=0,
                error=None,
                completed_at=None,
                progress=0,
                progress_message=None,
                scheduled_at=stamp,
                next_attempt_at=None,
                # A retry asked for by a person runs from the start, not from a checkpoint.
                checkpoint=None,
                # A retried cron run's new outcome is counted on its cron job like any run's.
                outcome_recorded=False,
                audit=appended(job.audit, "retried", principal.label, stamp),
            )
        except StaleWriteError:
            raise ConflictError(
                f"Job {job_id} changed meanwhile; read it and try again.", code="write_contention"
            ) from None
        self._enqueue(fresh, now)
        return fresh
