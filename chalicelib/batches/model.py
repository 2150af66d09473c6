"""A batch as requested and as stored; its summary and its progress (pure)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.model import ID_PATTERN
from chalicelib.jobs.shards import shard_of
from chalicelib.rights import Rights

MAX_CHILDREN = 1000
# The key a callback's payload receives the batch's summary under; a callback may not use it.
SUMMARY_KEY = "batch"
# Batch items share the jobs table under this prefix: no job id has it, so no job route reads one.
ITEM_PREFIX = "batch#"
# An unfinished batch (or a finished one whose callbacks are not yet queued) is found by the
# tick's sweep under one of these keys of the by_batch index.
UNFINISHED_SHARDS = 16
BATCH_NAMESPACE = uuid.UUID("0f5d3c2e-8a41-4a9b-9d0e-7b3c2a1f6e58")


class BatchState(StrEnum):
    CREATING = "creating"  # the item is stored, its children may not all be
    OPEN = "open"  # every child stored and sent; counting their ends
    SUCCEEDED = "succeeded"  # every child ended completed
    FINISHED = "finished"  # every child ended, not all completed


FINAL_STATES = (BatchState.SUCCEEDED, BatchState.FINISHED)
COUNTED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class CallbackRequest(BaseModel):
    """A job to run when the batch ends: its type, payload and priority."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: str = Field(min_length=3, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.NORMAL


class BatchRequest(BaseModel):
    """Body of ``POST /api/background-jobs/batches``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    store_id: str | None = Field(default=None, pattern=ID_PATTERN, validation_alias=AliasChoices("store_id", "storeId"))
    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CHILDREN)
    on_complete: CallbackRequest | None = Field(
        default=None, validation_alias=AliasChoices("on_complete", "onComplete")
    )
    on_success: CallbackRequest | None = Field(default=None, validation_alias=AliasChoices("on_success", "onSuccess"))
    description: str | None = Field(default=None, max_length=500)
    # A repeated key answers the batch it made (and completes it, if its creation was cut short).
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=128, validation_alias=AliasChoices("idempotency_key", "idempotencyKey")
    )


class Callback(StrEnum):
    ON_COMPLETE = "on_complete"
    ON_SUCCESS = "on_success"


@dataclass(frozen=True)
class Batch:
    """A stored batch. Counts are of children whose end was counted (each exactly once)."""

    id: str
    store_id: str
    plugin_id: str | None
    state: BatchState
    total: int
    completed: int
    failed: int
    cancelled: int
    created_at: str
    updated_at: str
    created_by: str
    rights: Rights
    description: str | None = None
    on_complete: CallbackRequest | None = None
    on_success: CallbackRequest | None = None
    finished_at: str | None = None
    callbacks_sent: bool = False
    note: str | None = None
    expired: int = 0  # children not started by their deadline (expire_after_seconds)

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.cancelled + self.expired

    def final_state(self) -> BatchState:
        """The state its last counted child leaves it in: succeeded only if every child it was
        asked for completed (a creation cut short never succeeds, however its stored children end)."""
        if self.completed == self.total and self.note is None:
            return BatchState.SUCCEEDED
        return BatchState.FINISHED

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def callbacks_due(self) -> list[tuple[Callback, CallbackRequest]]:
        """The callbacks a final batch runs: on_complete always, on_success if every child completed."""
        due: list[tuple[Callback, CallbackRequest]] = []
        if self.on_complete is not None:
            due.append((Callback.ON_COMPLETE, self.on_complete))
        if self.on_success is not None and self.state == BatchState.SUCCEEDED:
            due.append((Callback.ON_SUCCESS, self.on_success))
        return due

    def summary(self) -> dict[str, Any]:
        """What a callback receives and the API shows, without the live progress."""
        return {
            "id": self.id,
            "store_id": self.store_id,
            "plugin_id": self.plugin_id,
            "status": self.state.value,
            "total": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "expired": self.expired,
            "description": self.description,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "note": self.note,
        }


@dataclass(frozen=True)
class LiveCounts:
    """The unfinished children as they are now, read from the by_batch index."""

    pending: int = 0
    running: int = 0
    progress_sum: int = 0  # the uncounted children's progress, 0-100 each (100 once ended)


def shown(batch: Batch, live: LiveCounts) -> dict[str, Any]:
    """The API's view: counted ends, children waiting and running, and the aggregate progress."""
    return {**batch.summary(), "pending": live.pending, "running": live.running, "progress": progress(batch, live)}


def progress(batch: Batch, live: LiveCounts) -> int:
    """The mean of the children's progress, a counted end weighing 100 (0-100)."""
    if batch.is_final or batch.total == 0:
        return 100
    mean = (100 * batch.done + live.progress_sum) / batch.total
    return max(0, min(99 if batch.done < batch.total else 100, int(mean)))


def batch_id_for(store_id: str, idempotency_key: str | None) -> str:
    """A new batch's id: derived from its idempotency key, so a repeated request names it again."""
    if idempotency_key:
        return str(uuid.uuid5(BATCH_NAMESPACE, f"{store_id}\n{idempotency_key}"))
    return str(uuid.uuid4())


def child_id(batch_id: str, index: int) -> str:
    """Child ``index``'s job id: derived, so whoever completes a cut-short creation names the same jobs."""
    return str(uuid.uuid5(BATCH_NAMESPACE, f"{batch_id}\nchild\n{index}"))


def callback_id(batch_id: str, which: Callback) -> str:
    """A callback's job id: derived, so a second enqueue after a crash finds the first job."""
    return str(uuid.uuid5(BATCH_NAMESPACE, f"{batch_id}\n{which.value}"))


def unfinished_key(batch_id: str) -> str:
    return f"unfinished#{shard_of(batch_id) % UNFINISHED_SHARDS:02d}"


def unfinished_keys() -> list[str]:
    return [f"unfinished#{n:02d}" for n in range(UNFINISHED_SHARDS)]
