"""Response models of the HTTP API, for the OpenAPI spec (the views build plain dicts).

The job and cron-job views are derived from the stored models (``Job``, ``CronJob``) minus what
their ``to_public()`` leaves out, so a field added to a stored model shows up in the spec by
itself. Every field of a view is required and no other is allowed: ``to_public()`` dumps every
field, and tests/integration/test_openapi.py validates real answers against these schemas, so a view that
drifts from ``to_public()`` fails there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from chalicelib.crons.model import CRON_JOB_PRIVATE_FIELDS, CronJob
from chalicelib.jobs.model import JOB_PRIVATE_FIELDS, Job

# Serialization-mode schemas mark fields with defaults required: an answer always carries them.
# Built on first use (the spec route, the tests): no request pays for them at cold start.
VIEW_CONFIG = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True, defer_build=True)

# What Job.to_public() and CronJob.to_public() leave out; the detail view adds the logs back.
JOB_HIDDEN = JOB_PRIVATE_FIELDS
CRON_JOB_HIDDEN = CRON_JOB_PRIVATE_FIELDS


def public_view(model: type[BaseModel], *, name: str, hidden: frozenset[str], doc: str) -> type[BaseModel]:
    """A model with ``model``'s fields minus ``hidden``, each as the stored model declares it."""
    fields: dict[str, Any] = {
        field_name: (info.annotation, info)
        for field_name, info in model.model_fields.items()
        if field_name not in hidden
    }
    return create_model(name, __config__=VIEW_CONFIG, __doc__=doc, **fields)


JobView = public_view(Job, name="Job", hidden=JOB_HIDDEN, doc="A background job (or a cron job's execution).")
CronJobView = public_view(CronJob, name="CronJob", hidden=CRON_JOB_HIDDEN, doc="A cron job with its run counters.")


class JobDetailView(JobView):  # type: ignore[misc,valid-type]
    """A background job with its log lines."""

    logs: list[str]


class Envelope(BaseModel):
    """Every success answer: ``{"success": true, ...}``."""

    model_config = VIEW_CONFIG

    success: Literal[True]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer: one shape, with a machine-readable code."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    success: Literal[False]
    error: str = Field(min_length=1, description="A sentence for a person.")
    code: str = Field(min_length=1, description="A machine code, e.g. validation_error, job_not_found.")
    details: list[Any] = Field(description="Per-field problems of a validation error ({field, message, type}).")


class JobAnswer(Envelope):
    job: JobView  # type: ignore[valid-type]


class ScheduledJobAnswer(Envelope):
    job: JobView  # type: ignore[valid-type]
    created: bool = Field(description="False when an idempotency key repeated: the first job is returned.")
    debounced: bool = Field(description="True when collapsed into a debounce window's job, the one that will run.")
    deduplicated: bool = Field(description="True when a dedup window's first job is returned instead of a new one.")


class JobDetailAnswer(Envelope):
    job: JobDetailView


class JobPageAnswer(Envelope):
    jobs: list[JobView]  # type: ignore[valid-type]
    next_token: str | None = Field(description="Pass as next_token for the next page; null on the last.")


class QueueDepth(BaseModel):
    model_config = VIEW_CONFIG

    visible: int
    in_flight: int
    delayed: int
    dead_letter: int


class JobStats(BaseModel):
    # Not VIEW_CONFIG: ``queues`` is there for admins only.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    counts: dict[str, int] = Field(description="Jobs by status (at least this many when exact is false).")
    total: int
    exact: bool = Field(
        default=True,
        description="False when the request's read budget ran out before every job was counted: "
        "each count, and the total, is then a lower bound.",
    )
    queues: dict[str, QueueDepth] = Field(default_factory=dict, description="Queue depths by priority (admins only).")


class StatsAnswer(Envelope):
    stats: JobStats


class CronJobAnswer(Envelope):
    job: CronJobView  # type: ignore[valid-type]


class CronJobPageAnswer(Envelope):
    jobs: list[CronJobView]  # type: ignore[valid-type]
    next_token: str | None


class ExecutionAnswer(Envelope):
    execution: JobView  # type: ignore[valid-type]


class ExecutionPageAnswer(Envelope):
    executions: list[JobView]  # type: ignore[valid-type]
    next_token: str | None


class DeletedAnswer(Envelope):
    deleted: str = Field(description="The id of the deleted cron job.")


class PreviewAnswer(Envelope):
    valid: Literal[True]
    cron_expression: str
    timezone: str
    description: str = Field(description="The schedule in words.")
    next_runs: list[str] = Field(description="The next fire times, ISO 8601 UTC.")


class TickHealthView(BaseModel):
    model_config = VIEW_CONFIG

    last_at: str | None = Field(description="When the minute tick last ran to its end (ISO); null if never.")
    lag_s: float | None = Field(description="Seconds since then; null if never.")


class HealthAnswer(Envelope):
    status: Literal["ok", "degraded"] = Field(
        description="degraded: the tick has not run for more than 3 minutes (cron slots go unfired)."
    )
    tick: TickHealthView


class JobTypeView(BaseModel):
    model_config = VIEW_CONFIG

    type: str
    description: str
    plugin: str | None
    builtin: bool
    admin_only: bool
    configuration_schema: dict[str, Any] = Field(description="JSON schema of the job's payload/configuration.")


class JobTypesAnswer(Envelope):
    job_types: list[JobTypeView]
