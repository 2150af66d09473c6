"""Scheduling into a debounce or dedup window (the rules: jobs/windows.py; the items: window_store.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.clock import from_iso, to_iso
from chalicelib.errors import BadRequestError, ConflictError, StaleWriteError
from chalicelib.jobs.model import Job, ScheduleJobRequest
from chalicelib.jobs.store import CompanionRefusedError, DynamoJobStore
from chalicelib.jobs.window_store import DynamoWindowStore
from chalicelib.jobs.windows import (
    DEBOUNCE_PREFIX,
    DEDUP_PREFIX,
    WINDOW_ITEM_GRACE_S,
    DebounceRequest,
    DedupRequest,
    debounced_due,
    window_item_id,
)

# Schedules racing for one window re-read and try again this many times.
MAX_WINDOW_ATTEMPTS = 8


@dataclass(frozen=True)
class WindowOutcome:
    job: Job
    created: bool
    debounced: bool = False
    deduplicated: bool = False


def check_window_request(request: ScheduleJobRequest) -> None:
    """Refuse the combinations that have no single meaning (a 400 naming the field)."""

    def refuse(field: str, message: str) -> BadRequestError:
        return BadRequestError(
            f"Invalid request: {field}: {message}.",
            code="validation_error",
            details=[{"field": field, "message": message}],
        )

    if request.expire_after_seconds is not None and request.expires_at is not None:
        raise refuse("expires_at", "give expire_after_seconds or expires_at, not both")
    if request.debounce is not None and request.dedup is not None:
        raise refuse("dedup", "give debounce or dedup, not both")
    window = "debounce" if request.debounce is not None else "dedup" if request.dedup is not None else None
    if window is None:
        return
    if request.idempotency_key is not None:
        raise refuse("idempotency_key", f"give {window} or idempotency_key, not both")
    if window == "debounce" and (request.delay is not None or request.run_at is not None):
        raise refuse("debounce", "a debounced run starts when its window is quiet: no delay nor run_at")


def window_scope(job: Job, key: str) -> str:
    """What a window key is scoped to: the store, the plugin (a plugin sees only its own jobs)
    and the type (a payload is only meaningful to its own type). window_item_ids reads it too."""
    return f"{job.plugin_id or ''}\n{job.type}\n{key}"


class WindowScheduler:
    def __init__(
        self, *, store: DynamoJobStore, windows: DynamoWindowStore, enqueue: Callable[[Job, datetime], None]
    ) -> None:
        self.store = store
        self.windows = windows
        self.enqueue = enqueue

    def debounce(self, job: Job, debounce: DebounceRequest, now: datetime) -> WindowOutcome:
        """Collapse into the window's pending job, or open a window with ``job`` (due after the quiet)."""
        item_id = window_item_id(DEBOUNCE_PREFIX, job.store_id, window_scope(job, debounce.key))
        stamp = to_iso(now)
        for _ in range(MAX_WINDOW_ATTEMPTS):
            window = self.windows.get(item_id)
            if window is not None:
                due = debounced_due(now, from_iso(window.opened_at), debounce)
                try:
                    collapsed = self.store.collapse_debounced(
                        window.job_id,
                        debounce_key=debounce.key,
                        payload=job.payload,
                        scheduled_at=to_iso(due),
                        now=stamp,
                        rights=job.rights,
                        created_by=job.created_by,
                    )
                except StaleWriteError:
                    pass  # started, ended or gone: this schedule opens the next window
                else:
                    return WindowOutcome(job=collapsed, created=False, debounced=True)
            fresh = job.model_copy(
                update={
                    "debounce_key": debounce.key,
                    "scheduled_at": to_iso(debounced_due(now, now, debounce)),
                }
            )
            keep_until = to_iso(now + timedelta(seconds=debounce.max_wait_s + WINDOW_ITEM_GRACE_S))
            along = self.windows.debounce_put(
                item_id,
                job_id=fresh.id,
                opened_at=stamp,
                keep_until=keep_until,
                replacing=window.job_id if window is not None else None,
            )
            try:
                created = self.store.create(fresh, along=along)
            except CompanionRefusedError:
                continue  # another schedule opened the window first: join it
            self.enqueue(created, now)
            return WindowOutcome(job=created, created=True)
        raise ConflictError("The debounce window kept changing; try again.", code="write_contention")

    def dedup(self, job: Job, dedup: DedupRequest, now: datetime) -> WindowOutcome:
        """The window's first job while it lasts (whatever it became); else ``job`` opens the next window.

        The window item is read first: a repeat inside the window then costs two reads and no
        write (a refused transaction is billed as if it had written).
        """
        item_id = window_item_id(DEDUP_PREFIX, job.store_id, window_scope(job, dedup.key))
        stamp = to_iso(now)
        until = now + timedelta(seconds=dedup.seconds)
        fresh = job.model_copy(update={"dedup_key": dedup.key})
        for _ in range(MAX_WINDOW_ATTEMPTS):
            window = self.windows.get(item_id)
            if window is not None and window.until is not None and window.until > stamp:
                first = self.store.get(window.job_id)
                if first is None:
                    raise ConflictError(
                        f"The dedup window's job is gone (erased); it closes at {window.until}.", code="dedup_job_gone"
                    )
                return WindowOutcome(job=first, created=False, deduplicated=True)
            along = self.windows.dedup_put(
                item_id,
                job_id=fresh.id,
                opened_at=stamp,
                until=to_iso(until),
                keep_until=to_iso(until + timedelta(seconds=WINDOW_ITEM_GRACE_S)),
            )
            try:
                created = self.store.create(fresh, along=along)
            except CompanionRefusedError:
                continue  # another schedule opened the window first: answer with its job
            self.enqueue(created, now)
            return WindowOutcome(job=created, created=True)
        raise ConflictError("The dedup window kept changing; try again.", code="write_contention")
