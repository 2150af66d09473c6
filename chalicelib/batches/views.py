"""What the API shows of a batch's callbacks: configured, waiting, queued (with its job) or skipped (pure)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from chalicelib.batches.model import Batch, BatchState, Callback, CallbackRequest, callback_id
from chalicelib.jobs.model import Job


class CallbackState(StrEnum):
    WAITING = "waiting"  # the batch has unfinished children (or its callbacks are about to be queued)
    QUEUED = "queued"  # its job exists: see job_status for whether it ran
    SKIPPED = "skipped"  # on_success of a batch whose children did not all complete: it never runs


def configured(batch: Batch) -> list[tuple[Callback, CallbackRequest]]:
    pairs = [(Callback.ON_COMPLETE, batch.on_complete), (Callback.ON_SUCCESS, batch.on_success)]
    return [(which, request) for which, request in pairs if request is not None]


def callback_job_ids(batch: Batch) -> dict[Callback, str]:
    """The job id each configured callback has (derived) once it is queued."""
    return {which: callback_id(batch.id, which) for which, _ in configured(batch)}


def callbacks_shown(batch: Batch, jobs: dict[Callback, Job]) -> list[dict[str, Any]]:
    """Each configured callback: its type, and whether (and when) its job was queued and ran."""
    shown = []
    for which, request in configured(batch):
        job = jobs.get(which)
        if job is not None:
            state = CallbackState.QUEUED
        elif which == Callback.ON_SUCCESS and batch.state == BatchState.FINISHED:
            state = CallbackState.SKIPPED
        else:
            state = CallbackState.WAITING
        shown.append(
            {
                "name": which.value,
                "type": request.type,
                "priority": request.priority.value,
                "state": state.value,
                "job_id": job.id if job is not None else None,
                "job_status": job.status.value if job is not None else None,
                "queued_at": job.created_at if job is not None else None,
                "finished_at": job.completed_at if job is not None else None,
            }
        )
    return shown
