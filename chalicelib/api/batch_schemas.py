"""Response models of the batch routes, for the OpenAPI spec (the views build plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.schemas import VIEW_CONFIG, Envelope, JobView
from chalicelib.batches.model import BatchState, Callback
from chalicelib.batches.views import CallbackState
from chalicelib.jobs.lifecycle import JobStatus, Priority


class BatchView(BaseModel):
    """A batch: its children's counted ends, those waiting and running, and the mean progress."""

    model_config = VIEW_CONFIG

    id: str
    store_id: str
    plugin_id: str | None
    status: BatchState
    total: int = Field(description="Children in the batch.")
    pending: int = Field(description="Children waiting to run (pending or retrying).")
    running: int = Field(description="Children running (or cancelling).")
    completed: int
    failed: int
    cancelled: int
    expired: int = Field(description="Children that were not started by their deadline.")
    progress: int = Field(ge=0, le=100, description="Mean of the children's progress, a finished one counting 100.")
    description: str | None
    created_at: str
    finished_at: str | None
    note: str | None = Field(description="Why the batch holds fewer children than asked, when it does.")


class CallbackView(BaseModel):
    """A configured callback: its type, and whether (and when) its job was queued and ran."""

    model_config = VIEW_CONFIG

    name: Callback
    type: str
    priority: Priority
    state: CallbackState = Field(
        description="waiting: children still unfinished; queued: its job exists; skipped: on_success of a "
        "batch whose children did not all complete."
    )
    job_id: str | None = Field(description="The callback's job, once queued.")
    job_status: JobStatus | None
    queued_at: str | None
    finished_at: str | None = Field(description="When its job ended, if it has.")


class BatchSummaryView(BaseModel):
    """A batch as listed: its children's counted ends, without those waiting and running."""

    model_config = VIEW_CONFIG

    id: str
    store_id: str
    plugin_id: str | None
    status: BatchState
    total: int
    completed: int
    failed: int
    cancelled: int
    expired: int = Field(description="Children that were not started by their deadline.")
    description: str | None
    created_at: str
    finished_at: str | None
    note: str | None


class BatchPageAnswer(Envelope):
    batches: list[BatchSummaryView]
    next_token: str | None = Field(description="Pass as next_token for the next page; null on the last.")


class BatchAnswer(Envelope):
    batch: BatchView


class BatchDetailView(BatchView):
    """A batch as its own route shows it: with its callbacks and their jobs."""

    callbacks: list[CallbackView] = Field(description="on_complete, then on_success, those configured.")


class BatchDetailAnswer(Envelope):
    batch: BatchDetailView


class CreatedBatchAnswer(Envelope):
    batch: BatchView
    created: bool = Field(description="False when an idempotency key repeated: the first batch is returned.")


class BatchJobPageAnswer(Envelope):
    jobs: list[JobView]  # type: ignore[valid-type]
    next_token: str | None = Field(description="Pass as next_token for the next page; null on the last.")
