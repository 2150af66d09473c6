"""Job statuses, priorities and the transitions between statuses (pure: no AWS, no web)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"  # queued, or delayed until scheduled_at
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; waiting for its backoff
    CANCELLING = "cancelling"  # cancel asked while running; the handler has not noticed yet
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # not started by its start_by: never ran (or never ran again)


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# Served first to last; a plain sort of the names would put "high" last.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)

TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})
CLAIMABLE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RETRYING})
ACTIVE_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.CANCELLING})
RETRYABLE_BY_USER_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


def is_terminal(status: JobStatus) -> bool:
    return status in TERMINAL_STATUSES


def attempts_allowed(max_retries: int) -> int:
    """A job with ``max_retries`` retries may run ``max_retries + 1`` attempts in all."""
    return max_retries + 1


def has_retries_left(attempts: int, max_retries: int) -> bool:
    return attempts < attempts_allowed(max_retries)
