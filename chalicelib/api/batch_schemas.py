"""Response models of the batch routes, for the OpenAPI spec (the views build plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.schemas import VIEW_CONFIG, Envelope, JobView
from chalicelib.batches.model import BatchState


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


class BatchAnswer(Envelope):
    batch: BatchView


class CreatedBatchAnswer(Envelope):
    batch: BatchView
    created: bool = Field(description="False when an idempotency key repeated: the first batch is returned.")


class BatchJobPageAnswer(Envelope):
    jobs: list[JobView]  # type: ignore[valid-type]
    next_token: str | None = Field(description="Pass as next_token for the next page; null on the last.")
