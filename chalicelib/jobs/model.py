"""Pydantic models at the edges: HTTP bodies, the stored job, the SQS message."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from chalicelib.audit import AuditEntry
from chalicelib.auth import RESERVED_STORE_IDS
from chalicelib.errors import BadRequestError
from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.windows import MAX_EXPIRE_AFTER_S, DebounceRequest, DedupRequest
from chalicelib.masking import mask
from chalicelib.rights import Rights, rights_or_least
from chalicelib.telemetry import context

# plugin:<plugin-name>:<action>, names in lowercase kebab case as in the guide.
PLUGIN_TYPE_PATTERN = re.compile(r"^plugin:[a-z0-9]+(?:-[a-z0-9]+)*:[a-z0-9]+(?:[-_][a-z0-9]+)*$")
BUILTIN_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
ModelT = TypeVar("ModelT", bound=BaseModel)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_RUN_AT_AHEAD_S = 365 * 24 * 3600


# Job and cron job ids are made only by the services, as str(uuid4()) or str(uuid5(...)): the
# canonical lowercase 8-4-4-4-12 form. Anything else names no job and is refused before the
# table is read: the rate-limit counters share the jobs table under ids like
# "ratelimit#<store>#<minute>" (rate_limit.py), and API Gateway hands path parameters over
# decoded, so ".../ratelimit%23store-a%23.../status" would reach them.
GENERATED_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# Every moment a request names must convert to UTC and to any timezone's wall time without
# leaving datetime's calendar (years 1 to 9999): a day of margin at each end covers every offset.
EARLIEST_MOMENT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_MOMENT = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)


def check_moment(value: datetime | None, name: str) -> datetime | None:
    """``value`` if it is aware and well inside the calendar; a ValueError naming ``name`` otherwise."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} needs a timezone offset, e.g. 2026-01-01T00:00:00Z")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST_MOMENT <= in_utc <= LATEST_MOMENT:
        raise ValueError(f"{name} must lie between 0001-01-02 and 9999-12-30 (UTC)")
    return value


def is_generated_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id the services make (see GENERATED_ID)."""
    return GENERATED_ID.fullmatch(value) is not None


def require_id(value: str, field: str = "store_id") -> str:
    """``value`` if a store or plugin may be called so; a 400 naming ``field`` otherwise (path
    parameters arrive decoded)."""
    if not re.fullmatch(ID_PATTERN, value):
        raise BadRequestError(
            f"{field} must be an id (letters, digits, . _ : -; at most 128).",
            code="validation_error",
            details=[{"field": field, "message": "not an id"}],
        )
    return value


def require_tenant_store(store_id: str, refused: str) -> str:
    """``store_id`` if it names a tenant's store; a 400 for a malformed id, and for a reserved
    pseudo-store (``refused`` says what it may not have done to it)."""
    require_id(store_id)
    if store_id in RESERVED_STORE_IDS:
        raise BadRequestError(
            f"{store_id!r} is the platform's own pseudo-store; {refused}.",
            code="reserved_store",
            details=[{"field": "store_id", "message": "reserved"}],
        )
    return store_id


def is_well_formed_type(job_type: str) -> bool:
    return bool(PLUGIN_TYPE_PATTERN.match(job_type) or BUILTIN_TYPE_PATTERN.match(job_type))


def parse_model(model: type[ModelT], data: Any, *, field_prefix: str = "", context: Any = None) -> ModelT:
    """Validate ``data``; a failure becomes a 400 naming each field at fault. ``context``: what the
    model's validators may consult (a job type's configuration gets the settings)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        details = []
        for error in exc.errors(include_url=False, include_input=False):
            path = ".".join(str(part) for part in (field_prefix, *error["loc"]) if part != "")
            details.append({"field": path or "(body)", "message": error["msg"], "type": error["type"]})
        first = details[0]
        raise BadRequestError(
            f"Invalid request: {first['field']}: {first['message']}.", code="validation_error", details=details
        ) from None


class ScheduleJobRequest(BaseModel):
    """Body of ``POST /api/background-jobs/schedule``, in the guide's camelCase or snake_case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: str = Field(min_length=3, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    max_retries: int | None = Field(default=None, ge=0, validation_alias=AliasChoices("max_retries", "maxRetries"))
    # Left out: the caller's only store; an admin's job then belongs to the platform pseudo-store.
    store_id: str | None = Field(default=None, pattern=ID_PATTERN, validation_alias=AliasChoices("store_id", "storeId"))
    user_id: str | None = Field(default=None, max_length=128, validation_alias=AliasChoices("user_id", "userId"))
    plugin_id: str | None = Field(
        default=None, pattern=ID_PATTERN, validation_alias=AliasChoices("plugin_id", "pluginId")
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    delay: float | None = Field(default=None, ge=0, le=MAX_RUN_AT_AHEAD_S)
    run_at: datetime | None = Field(default=None, validation_alias=AliasChoices("run_at", "runAt"))
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        validation_alias=AliasChoices("idempotency_key", "idempotencyKey"),
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=7 * 24 * 3600, validation_alias=AliasChoices("timeout_seconds", "timeoutSeconds")
    )
    # Windows and the start deadline: chalicelib/jobs/windows.py.
    debounce: DebounceRequest | None = None
    dedup: DedupRequest | None = None
    expire_after_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRE_AFTER_S,
        validation_alias=AliasChoices("expire_after_seconds", "expireAfterSeconds"),
    )
    expires_at: datetime | None = Field(default=None, validation_alias=AliasChoices("expires_at", "expiresAt"))

    @field_validator("max_retries", "delay", "timeout_seconds", "expire_after_seconds", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # pydantic reads true as 1: ``maxRetries: true`` is a mistake to report, not one retry.
        if isinstance(value, bool):
            raise ValueError("must be a number, not a boolean")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_plugin_id_is_an_id(cls, value: dict[str, Any]) -> dict[str, Any]:
        # metadata.pluginId becomes the job's plugin_id: it must pass the same check as plugin_id.
        for key in ("pluginId", "plugin_id"):
            given = value.get(key)
            if given not in (None, "") and not (isinstance(given, str) and re.match(ID_PATTERN, given)):
                raise ValueError(f"{key} must be a plugin id (letters, digits, . _ : -; at most 128)")
        return value

    @field_validator("run_at")
    @classmethod
    def _run_at_is_a_moment(cls, value: datetime | None) -> datetime | None:
        return check_moment(value, "run_at")

    @field_validator("expires_at")
    @classmethod
    def _expires_at_is_a_moment(cls, value: datetime | None) -> datetime | None:
        return check_moment(value, "expires_at")

    def effective_plugin_id(self) -> str | None:
        """The guide passes the plugin in ``metadata.pluginId``; a top-level field wins."""
        if self.plugin_id:
            return self.plugin_id
        value = self.metadata.get("pluginId") or self.metadata.get("plugin_id")
        return str(value) if value else None


# A job's values that may live in S3 rather than in its item (jobs/values.py); ``<name>_ref``
# then holds the object's key.
VALUE_FIELDS = ("payload", "result", "checkpoint")


def ref_attribute(field: str) -> str:
    """The attribute naming the S3 object that holds ``field`` when the item does not."""
    return f"{field}_ref"


# Never shown: lease internals, the handler's private state (large), where values and log lines
# are kept, and the rights, which name the creator's other stores. Logs are shown only where
# asked for.
JOB_PRIVATE_FIELDS = frozenset(
    {
        "lease_token",
        "logs",
        "log_lines",
        "version",
        "checkpoint",
        "rights",
        "outcome_recorded",
        "batch_counted",
        *(ref_attribute(field) for field in VALUE_FIELDS),
    }
)


class ValuesNotLoadedError(RuntimeError):
    """Raised when a job is shown before the values it keeps in S3 (or its log lines) were read."""


class Job(BaseModel):
    """A background job as stored in DynamoDB and shown by the API."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    id: str
    type: str
    priority: Priority
    status: JobStatus
    payload: dict[str, Any] = Field(default_factory=dict)
    store_id: str
    user_id: str | None = None
    plugin_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    progress: int = 0
    progress_message: str | None = None
    result: Any = None
    error: str | None = None
    attempts: int = 0
    max_retries: int = 3
    created_at: str
    updated_at: str
    scheduled_at: str
    started_at: str | None = None
    completed_at: str | None = None
    next_attempt_at: str | None = None
    lease_until: str | None = None
    lease_token: str | None = None
    idempotency_key: str | None = None
    timeout_seconds: int | None = None
    # Not started (claimed) by then, it is not run: it ends ``expired`` (jobs/windows.py).
    start_by: str | None = None
    # The debounce window it runs for, and how many later schedules collapsed into it.
    debounce_key: str | None = None
    debounce_count: int = 0
    # The dedup window it answers for.
    dedup_key: str | None = None
    cron_job_id: str | None = None
    # A scheduled cron run's slot (None for a run-now): the worker checks the cron job still has it.
    cron_slot: str | None = None
    run_after: str | None = None  # the cron's previous run, for the overlap policy
    overlap_policy: str | None = None  # "skip" or "buffer_one" when run_after is set
    created_by: str | None = None
    # The rights it acts with (chalicelib/rights.py): never shown, they name the creator's stores.
    rights: Rights | None = None
    # A cron run's outcome is counted on its cron job exactly once (crons/store.py record_outcome).
    outcome_recorded: bool = False
    # The batch it belongs to (chalicelib/batches/), and whether its end was counted there: once.
    batch_id: str | None = None
    batch_counted: bool = False
    # Who created, cancelled or retried it, and when (chalicelib/audit.py).
    audit: list[AuditEntry] = Field(default_factory=list)
    logs: list[str] = Field(default_factory=list)
    # Long jobs: the handler's last self.checkpoint(state), the fresh invocations it continued
    # in, and when the current attempt first started (its timeout spans its invocations).
    checkpoint: Any = None
    continuations: int = 0
    attempt_started_at: str | None = None
    # S3 keys of the values too large for the item (jobs/values.py), and how many log lines the
    # job's log item holds (jobs/logs.py): both read only where needed.
    payload_ref: str | None = None
    result_ref: str | None = None
    checkpoint_ref: str | None = None
    log_lines: int = 0
    version: int = 0
    # What was read back from S3 or the log item: (field names, "logs").
    _loaded: frozenset[str] = PrivateAttr(default_factory=frozenset)

    def unloaded_values(self) -> list[str]:
        """The values this job keeps in S3 that were not read into it."""
        return [f for f in VALUE_FIELDS if getattr(self, ref_attribute(f)) is not None and f not in self._loaded]

    @property
    def logs_loaded(self) -> bool:
        """Whether ``logs`` holds the job's lines (they live in the log item once written)."""
        return self.log_lines == 0 or "logs" in self._loaded

    def with_values(self, **values: Any) -> Job:
        """A copy holding ``values`` read from where they live (S3, the log item)."""
        copy = self.model_copy(update=values)
        copy._loaded = self._loaded | frozenset(values)
        return copy

    @property
    def due_at(self) -> str:
        """When a claimable job may run: its retry's time during a backoff, else its schedule."""
        return self.next_attempt_at or self.scheduled_at

    @property
    def acting_rights(self) -> Rights:
        """The rights this job acts with (chalicelib/rights.py)."""
        subject = self.created_by or f"job:{self.id}"
        return rights_or_least(self.rights, store_id=self.store_id, plugin_id=self.plugin_id, subject=subject)

    def to_public(self, *, with_logs: bool = False) -> dict[str, Any]:
        """The API's view: no lease internals; log lines only where asked for."""
        missing = self.unloaded_values() + ([] if self.logs_loaded or not with_logs else ["logs"])
        if missing:
            # Shown as empty they would read as lost: a caller forgot JobService.shown().
            raise ValuesNotLoadedError(f"job {self.id}: {', '.join(missing)} not read")
        # The checkpoint is the handler's private state (and may be large): not shown.
        data = self.model_dump(mode="json", exclude=set(JOB_PRIVATE_FIELDS))
        for name in ("payload", "metadata", "result"):
            data[name] = mask(data[name])
        if with_logs:
            data["logs"] = list(self.logs)
        return data


# Fields kept as JSON strings in DynamoDB: arbitrary user JSON holds floats, which the
# DynamoDB resource API refuses (it wants Decimal), and strings keep their exact shape.
JSON_FIELDS = ("payload", "metadata", "result", "checkpoint")


def job_to_item(job: Job) -> dict[str, Any]:
    item = job.model_dump(mode="json")
    for name in JSON_FIELDS:
        if item[name] is not None:
            item[name] = json.dumps(item[name], separators=(",", ":"))
    for name in VALUE_FIELDS:
        if item[ref_attribute(name)] is not None:
            item[name] = None  # it lives in S3
    if job.log_lines:
        item["logs"] = None  # they live in the log item
    return {
        k: v
        for k, v in item.items()
        if v is not None and v != [] and not (k in ("log_lines", "debounce_count") and v == 0)
    }


def job_from_item(item: dict[str, Any]) -> Job:
    data = dict(item)
    for name in JSON_FIELDS:
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    for name in (
        "progress",
        "attempts",
        "max_retries",
        "version",
        "timeout_seconds",
        "continuations",
        "log_lines",
        "debounce_count",
    ):
        if data.get(name) is not None:
            data[name] = int(data[name])
    return Job.model_validate(data)


class JobMessage(BaseModel):
    """What an SQS message carries: the job's id, never its data (SQS caps messages at 256 KiB)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(min_length=1, max_length=128)
    # When the job is due (ISO), for a message sent with a delay: SQS delays are whole seconds,
    # so the message is sent to arrive up to a second early and the worker waits out the rest.
    due_at: str | None = None
    # Whose slots it takes before it runs (chalicelib/stores/gate.py), read without the job.
    store_id: str | None = None
    plugin_id: str | None = None
    # The request (or tick run) that queued it: the worker's lines for the job carry it too. In
    # the body, not an attribute, so it survives a trip through the dead-letter queue.
    correlation_id: str | None = None
    # The X-Ray trace it belongs to: sent as SQS's AWSTraceHeader system attribute, never in the body.
    trace_header: str | None = Field(default=None, exclude=True)

    @field_validator("correlation_id", mode="before")
    @classmethod
    def _only_a_sane_correlation_id(cls, value: Any) -> str | None:
        # A bad one is dropped, not refused: refusing would park a message whose job is fine.
        return context.sane_correlation_id(value) if isinstance(value, str) else None

    @classmethod
    def of(cls, job: Job, *, due_at: str | None = None) -> JobMessage:
        """The message for ``job``, in the correlation and trace of whoever sends it."""
        return cls(
            job_id=job.id,
            due_at=due_at,
            store_id=job.store_id,
            plugin_id=job.plugin_id,
            correlation_id=context.correlation_id(),
            trace_header=context.trace_header(),
        )
