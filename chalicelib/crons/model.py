"""Cron-job models: the request bodies (the guide's snake_case) and the stored definition."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from chalicelib.audit import AuditEntry
from chalicelib.auth import PLATFORM_STORE  # noqa: F401 - where tests and tools look for it
from chalicelib.jobs.lifecycle import Priority
from chalicelib.jobs.model import ID_PATTERN, check_moment
from chalicelib.jobs.windows import MAX_EXPIRE_AFTER_S
from chalicelib.masking import mask
from chalicelib.rights import Rights, rights_or_least

MAX_CONFIGURATION_BYTES = 64 * 1024


class MisfirePolicy(StrEnum):
    RUN_ONCE = "run_once"  # one catch-up run for any number of missed slots
    SKIP = "skip"  # missed slots are counted, not run
    RUN_ALL = "run_all"  # every missed slot runs, a bounded number per tick


class OverlapPolicy(StrEnum):
    SKIP = "skip"  # a slot whose previous run still runs is recorded as skipped
    ALLOW = "allow"  # runs may overlap
    BUFFER_ONE = "buffer_one"  # at most one run waits for the previous one


def _either(snake: str, camel: str) -> AliasChoices:
    return AliasChoices(snake, camel)


# Fields a request may leave out but not set to null (timeout_seconds, max_failures, max_runs
# null mean "no limit"; store_id and plugin_id null mean "the default").
NOT_NULL_FIELDS = (
    "name",
    "description",
    "cron_expression",
    "timezone",
    "job_type",
    "configuration",
    "is_active",
    "priority",
    "max_retries",
    "misfire_policy",
    "overlap_policy",
    "tags",
)


class CronJobFields(BaseModel):
    """Every settable field, all optional: PATCH uses it as is, create and PUT add requirements."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    cron_expression: str | None = Field(
        default=None, min_length=1, max_length=200, validation_alias=_either("cron_expression", "cronExpression")
    )
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    job_type: str | None = Field(
        default=None, min_length=3, max_length=128, validation_alias=_either("job_type", "jobType")
    )
    configuration: dict[str, Any] | None = None
    plugin_id: str | None = Field(default=None, pattern=ID_PATTERN, validation_alias=_either("plugin_id", "pluginId"))
    store_id: str | None = Field(default=None, pattern=ID_PATTERN, validation_alias=_either("store_id", "storeId"))
    is_active: bool | None = Field(default=None, validation_alias=_either("is_active", "isActive"))
    priority: Priority | None = None
    max_retries: int | None = Field(default=None, ge=0, validation_alias=_either("max_retries", "maxRetries"))
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=7 * 24 * 3600, validation_alias=_either("timeout_seconds", "timeoutSeconds")
    )
    max_failures: int | None = Field(
        default=None, ge=1, le=1000, validation_alias=_either("max_failures", "maxFailures")
    )
    max_runs: int | None = Field(default=None, ge=1, le=10**9, validation_alias=_either("max_runs", "maxRuns"))
    # Each run not started this long after its slot is not run (it ends expired; null: no deadline).
    expire_after_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRE_AFTER_S,
        validation_alias=_either("expire_after_seconds", "expireAfterSeconds"),
    )
    misfire_policy: MisfirePolicy | None = Field(
        default=None, validation_alias=_either("misfire_policy", "misfirePolicy")
    )
    overlap_policy: OverlapPolicy | None = Field(
        default=None, validation_alias=_either("overlap_policy", "overlapPolicy")
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, max_length=20)

    @field_validator(*NOT_NULL_FIELDS, mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Every field is optional (PATCH sends some), but the stored cron job has a value for
        # these: an explicit null would reach CronJob() and fail there as a 500.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


REQUIRED_ON_CREATE = ("name", "cron_expression", "job_type")
# Fields a PUT may leave out: they keep their defaults, as on create.
DEFAULTS: dict[str, Any] = {
    "description": "",
    "timezone": "UTC",
    "configuration": {},
    "is_active": True,
    "priority": Priority.NORMAL,
    "max_retries": 3,
    "timeout_seconds": None,
    "max_failures": None,
    "max_runs": None,
    "expire_after_seconds": None,
    "misfire_policy": MisfirePolicy.RUN_ONCE,
    "overlap_policy": OverlapPolicy.SKIP,
    "tags": [],
}


# Never shown: write bookkeeping, and the rights, which name the saver's other stores.
CRON_JOB_PRIVATE_FIELDS = frozenset({"version", "current_job_id", "rights"})


class CronJob(BaseModel):
    """A cron job as stored and shown."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    description: str = ""
    cron_expression: str
    timezone: str = "UTC"
    schedule_description: str = ""
    job_type: str
    configuration: dict[str, Any] = Field(default_factory=dict)
    plugin_id: str | None = None
    store_id: str
    is_active: bool = True
    priority: Priority = Priority.NORMAL
    max_retries: int = 3
    timeout_seconds: int | None = None
    max_failures: int | None = None
    max_runs: int | None = None
    expire_after_seconds: int | None = None
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    tags: list[str] = Field(default_factory=list)
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_job_id: str | None = None
    current_job_id: str | None = None
    run_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    skipped_count: int = 0
    consecutive_failures: int = 0
    paused_reason: str | None = None
    created_at: str
    updated_at: str
    created_by: str | None = None
    updated_by: str | None = None
    declared_by: str | None = None
    # The rights its runs act with: whoever last saved what it runs (chalicelib/rights.py).
    rights: Rights | None = None
    # Who created, changed, paused or resumed it, and when (chalicelib/audit.py); runs are jobs
    # and carry their own trail ("created by admin:alice" for a run-now).
    audit: list[AuditEntry] = Field(default_factory=list)
    version: int = 0

    @property
    def acting_rights(self) -> Rights:
        """The rights its runs act with (chalicelib/rights.py)."""
        return rights_or_least(self.rights, store_id=self.store_id, plugin_id=self.plugin_id, subject=f"cron:{self.id}")

    def to_public(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude=set(CRON_JOB_PRIVATE_FIELDS))
        data["configuration"] = mask(data["configuration"])
        return data


JSON_FIELDS = ("configuration",)
INT_FIELDS = (
    "max_retries",
    "timeout_seconds",
    "max_failures",
    "max_runs",
    "expire_after_seconds",
    "run_count",
    "success_count",
    "failure_count",
    "skipped_count",
    "consecutive_failures",
    "version",
)


def cron_to_item(cron: CronJob) -> dict[str, Any]:
    item = cron.model_dump(mode="json")
    item["configuration"] = json.dumps(item["configuration"], separators=(",", ":"))
    return {k: v for k, v in item.items() if v is not None and v != []}


def cron_from_item(item: dict[str, Any]) -> CronJob:
    data = dict(item)
    if isinstance(data.get("configuration"), str):
        data["configuration"] = json.loads(data["configuration"])
    for name in INT_FIELDS:
        if data.get(name) is not None:
            data[name] = int(data[name])
    return CronJob.model_validate(data)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    cron_expression: str = Field(
        min_length=1, max_length=200, validation_alias=_either("cron_expression", "cronExpression")
    )
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    after: datetime | None = None
    count: int = Field(default=5, ge=1, le=100)

    @field_validator("after")
    @classmethod
    def _after_is_a_moment(cls, value: datetime | None) -> datetime | None:
        # Runs past 9999-12-31 do not exist: an ``after`` near it lists fewer (or no) runs.
        return check_moment(value, "after")
