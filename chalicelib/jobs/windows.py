"""Debounce, dedup windows and start deadlines of scheduled jobs (pure: no AWS, no web).

A *debounce* window collapses the schedules of one (store, key) into one run that starts once
the window has been quiet for ``seconds`` (at ``max_wait_seconds`` after its first schedule at
the latest), with the latest payload. A *dedup* window answers every schedule of one (store, key)
within ``seconds`` of the first with the first job, whatever its payload. Both keep a small item
per (store, key) in the jobs table (``window_store.py``); the job store holds the job.

A job's ``start_by`` is its start deadline: a worker's claim refuses it afterwards and the job
ends ``expired``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.clock import from_iso

DEBOUNCE_PREFIX = "debounce#"
DEDUP_PREFIX = "dedup#"
MAX_DEBOUNCE_S = 900
MAX_DEBOUNCE_WAIT_S = 86400
MAX_DEDUP_S = 7 * 24 * 3600
# A start deadline is at most this far after the job is due (and so at most a year + this ahead).
MAX_EXPIRE_AFTER_S = 365 * 24 * 3600
# A window item outlives its window by this much before DynamoDB's TTL may delete it: a late
# schedule must still find the item of a window whose job has not started.
WINDOW_ITEM_GRACE_S = 14 * 24 * 3600


def _printable_key(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


def _no_boolean(value: Any) -> Any:
    # pydantic reads true as 1: a boolean is a mistake to report, not one second.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class DebounceRequest(BaseModel):
    """``"debounce": {"key": ..., "seconds": 5, "max_wait_seconds": 60}`` of a schedule body."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200)
    seconds: int = Field(ge=1, le=MAX_DEBOUNCE_S)
    max_wait_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DEBOUNCE_WAIT_S,
        validation_alias=AliasChoices("max_wait_seconds", "maxWaitSeconds"),
        description="The run starts at most this long after the window's first schedule (default: 10x seconds, "
        "at most 86400); at least seconds.",
    )

    @field_validator("key")
    @classmethod
    def _key_is_printable(cls, value: str) -> str:
        return _printable_key(value)

    @field_validator("seconds", "max_wait_seconds", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return _no_boolean(value)

    @model_validator(mode="after")
    def _wait_covers_quiet(self) -> DebounceRequest:
        if self.max_wait_seconds is not None and self.max_wait_seconds < self.seconds:
            raise ValueError("max_wait_seconds must be at least seconds")
        return self

    @property
    def max_wait_s(self) -> int:
        return (
            self.max_wait_seconds if self.max_wait_seconds is not None else min(10 * self.seconds, MAX_DEBOUNCE_WAIT_S)
        )


class DedupRequest(BaseModel):
    """``"dedup": {"key": ..., "seconds": 600}`` of a schedule body."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200)
    seconds: int = Field(ge=1, le=MAX_DEDUP_S)

    @field_validator("key")
    @classmethod
    def _key_is_printable(cls, value: str) -> str:
        return _printable_key(value)

    @field_validator("seconds", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return _no_boolean(value)


def window_item_id(prefix: str, store_id: str, key: str) -> str:
    """The window item of (store, key): the key is hashed, so its characters and length never
    shape the item's id, and two stores' equal keys name two items."""
    digest = hashlib.sha256(f"{store_id}\n{key}".encode()).hexdigest()[:40]
    return f"{prefix}{store_id}#{digest}"


def debounced_due(now: datetime, opened_at: datetime, debounce: DebounceRequest) -> datetime:
    """When a debounced run starts if no schedule follows the one at ``now``: after ``seconds``
    of quiet, and never later than ``max_wait_s`` after the window opened."""
    return min(now + timedelta(seconds=debounce.seconds), opened_at + timedelta(seconds=debounce.max_wait_s))


def start_deadline(
    scheduled_at: datetime, *, expire_after_seconds: int | None, expires_at: datetime | None
) -> datetime | None:
    """The job's ``start_by``: ``expire_after_seconds`` after it is due, or ``expires_at``."""
    if expire_after_seconds is not None:
        return scheduled_at + timedelta(seconds=expire_after_seconds)
    return expires_at


def is_expired(start_by: str | None, now: datetime) -> bool:
    """Whether a job with start deadline ``start_by`` may no longer start at ``now``."""
    return start_by is not None and from_iso(start_by) <= now


def expired_reason(start_by: str) -> str:
    """The error an expired job records."""
    return f"expired: not started by {start_by}"


def window_item_ids(
    store_id: str, plugin_id: str | None, job_type: str, *, debounce_key: str | None, dedup_key: str | None
) -> list[str]:
    """The window items that may name a job with these keys (its store's erase deletes them)."""
    scope = f"{plugin_id or ''}\n{job_type}\n"
    ids = []
    if debounce_key is not None:
        ids.append(window_item_id(DEBOUNCE_PREFIX, store_id, scope + debounce_key))
    if dedup_key is not None:
        ids.append(window_item_id(DEDUP_PREFIX, store_id, scope + dedup_key))
    return ids
