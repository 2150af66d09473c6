"""The one error family of tickwork; the API layer maps it to HTTP in one place."""

from __future__ import annotations

from typing import Any


class TickworkError(Exception):
    """Raised for any failure tickwork itself reports; carries an HTTP status and a machine code."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: list[Any] = details or []


class BadRequestError(TickworkError):
    """Raised when a request is malformed or fails validation."""

    status_code = 400
    code = "bad_request"


class UnauthorizedError(TickworkError):
    """Raised when a request carries no valid token."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(TickworkError):
    """Raised when a valid principal may not do what it asked (e.g. write into a foreign store)."""

    status_code = 403
    code = "forbidden"


class NotFoundError(TickworkError):
    """Raised when a thing does not exist or belongs to another tenant."""

    status_code = 404
    code = "not_found"


class ConflictError(TickworkError):
    """Raised when a request is valid but the thing's current state forbids it."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(TickworkError):
    """Raised when a body, payload or configuration is over its size limit."""

    status_code = 413
    code = "payload_too_large"


class StaleWriteError(TickworkError):
    """Raised when a conditional write lost a race: the item changed since it was read."""

    status_code = 409
    code = "stale_write"


class JobNotFoundError(NotFoundError):
    """Raised when a job id names no job the caller may see."""

    code = "job_not_found"


class UnknownJobTypeError(BadRequestError):
    """Raised when a job type is malformed or not registered."""

    code = "unknown_job_type"


class ServiceUnavailableError(TickworkError):
    """Raised when a dependency (queue, secret, database) cannot be reached or is not configured."""

    status_code = 503
    code = "service_unavailable"


class JobStateError(ConflictError):
    """Raised when a job's status forbids the operation (cancel a finished job, retry a running one)."""

    code = "invalid_job_state"


class TooManyRequestsError(TickworkError):
    """Raised when a quota (cron jobs per store, jobs per minute) is used up."""

    status_code = 429
    code = "limit_reached"


class CronJobNotFoundError(NotFoundError):
    """Raised when a cron job id names no cron job the caller may see."""

    code = "cron_job_not_found"
