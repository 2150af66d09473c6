"""Asking for a store's erasure: one ``erase_store`` job per store at a time, whose id the store names.

The id is derived from the store, so a second request while one runs answers the same job, and
two requests at once create one (the create is conditional). Once it has finished, a new request
runs the same job again from the start: its item goes back to pending, on condition it is still
the finished job just read, and its report is replaced by the new run's.
"""

from __future__ import annotations

import uuid

from chalicelib.audit import appended
from chalicelib.auth import PLATFORM_STORE, Principal
from chalicelib.clock import to_iso
from chalicelib.errors import ConflictError, ForbiddenError, StaleWriteError
from chalicelib.jobs.lifecycle import TERMINAL_STATUSES, JobStatus, Priority
from chalicelib.jobs.model import Job, require_tenant_store
from chalicelib.jobs.service import JobService, ScheduleOutcome
from chalicelib.rights import Rights

ERASE_TYPE = "erase_store"
ERASURE_NAMESPACE = uuid.UUID("3f1d2c7a-9b64-4e0f-a8d5-5c2e7b91f046")
# A pending erase created this long ago is sent again on a repeated request: the request that
# created it may have died before its message left (the tick's sweep would, later).
RESEND_AFTER_S = 60.0
MAX_WRITE_ATTEMPTS = 5


def erasure_job_id(store_id: str) -> str:
    return str(uuid.uuid5(ERASURE_NAMESPACE, store_id))


def request_erasure(jobs: JobService, store_id: str, principal: Principal) -> ScheduleOutcome:
    """The store's erase job, created, re-run or as it runs (``created``: this request started it)."""
    if not principal.is_admin:
        raise ForbiddenError("Only an admin may erase a store's data.", code="admin_only")
    require_tenant_store(store_id, "it holds no tenant's data to erase")
    for _ in range(MAX_WRITE_ATTEMPTS):
        now = jobs.clock.now()
        stamp = to_iso(now)
        job = Job(
            id=erasure_job_id(store_id),
            type=ERASE_TYPE,
            priority=Priority.NORMAL,
            status=JobStatus.PENDING,
            payload={"store_id": store_id},
            # The platform's, not the store's: the report outlives the store's data, and tenants
            # never see it.
            store_id=PLATFORM_STORE,
            max_retries=jobs.settings.default_max_retries,
            created_at=stamp,
            updated_at=stamp,
            scheduled_at=stamp,
            created_by=principal.label,
            rights=Rights.of(principal),
            audit=appended([], "created", principal.label, stamp),
        )
        outcome = jobs.submit(job, now, principal, resend_after_s=RESEND_AFTER_S)
        if outcome.created or outcome.job.status not in TERMINAL_STATUSES:
            return outcome
        try:
            again = jobs.store.transition(
                outcome.job,
                JobStatus.PENDING,
                now=stamp,
                attempts=0,
                error=None,
                result=None,
                completed_at=None,
                progress=0,
                progress_message=None,
                scheduled_at=stamp,
                next_attempt_at=None,
                checkpoint=None,  # a new erase reads everything again
                audit=appended(outcome.job.audit, "retried", principal.label, stamp, detail="erase requested again"),
            )
        except StaleWriteError:
            continue  # another request re-ran it, or it changed: read it again
        jobs.requeue(again)
        return ScheduleOutcome(job=again, created=True)
    raise ConflictError(f"The erase of store {store_id} kept changing; try again.", code="write_contention")
