"""Settings read from the environment (Lambda's variables, the embedded stack, tests).

Each setting is written once: its name, its default and the variable that sets it. This is the
only module that reads ``os.environ``; the runtime hands the settings to whatever needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from chalicelib.jobs.backoff import DEFAULT_BACKOFF_S, parse_schedule

# SQS caps DelaySeconds at 15 minutes; longer delays hop on the message's visibility timeout.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
SQS_MAX_DELAY_S = 15 * 60
# ChangeMessageVisibility accepts at most 12 hours.
SQS_MAX_VISIBILITY_S = 12 * 60 * 60
# SQS messages and our payloads share the 256 KiB cap the guide's users know.
MAX_PAYLOAD_BYTES = 256 * 1024
# A whole request body may carry a payload plus metadata.
MAX_BODY_BYTES = 512 * 1024

# Environment variables a job may read as {{env:NAME}} start with this (docs/templates.md).
PUBLIC_ENV_PREFIX = "TICKWORK_PUBLIC_"


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _switch(text: str) -> bool:
    return text.lower() not in ("0", "off", "false", "no")


def _at_least_one(text: str) -> int:
    return max(1, int(text))


def setting(default: Any, env: str | tuple[str, ...], parse: Callable[[str], Any] = str) -> Any:
    """A field of ``Settings``: its default, the variable(s) that set it (first non-empty wins), how to read one."""
    names = (env,) if isinstance(env, str) else env
    return field(default=default, metadata={"env": names, "parse": parse})


@dataclass(frozen=True)
class Settings:
    region: str = setting("us-east-1", ("AWS_REGION", "AWS_DEFAULT_REGION"))
    jobs_table: str = setting("tickwork-jobs", "TICKWORK_JOBS_TABLE")
    cron_jobs_table: str = setting("tickwork-cron-jobs", "TICKWORK_CRON_JOBS_TABLE")
    queue_prefix: str = setting("tickwork-", "TICKWORK_QUEUE_PREFIX")
    # The deployment stage (`dev`, `prod`): jobs' {{secret:...}} references live under /tickwork/<stage>/.
    stage: str = setting("dev", "TICKWORK_STAGE")
    plugins_package: str = setting("plugins", "TICKWORK_PLUGINS_PACKAGE")
    # Metrics in CloudWatch's embedded format on stdout (chalicelib/metrics.py), under this namespace.
    metrics_enabled: bool = setting(True, "TICKWORK_METRICS", _switch)
    metrics_namespace: str = setting("Tickwork", "TICKWORK_METRICS_NAMESPACE")
    # Seconds between two ticks: EventBridge's rate, and how far ahead a tick queues slots.
    tick_interval_s: int = 60
    # Cron jobs a tick fires at once (threads), and how long it may fire before it leaves the
    # rest to the next tick: under the tick function's timeout (60 s).
    tick_concurrency: int = setting(32, "TICKWORK_TICK_CONCURRENCY", _at_least_one)
    tick_budget_s: float = setting(45.0, "TICKWORK_TICK_BUDGET_S", float)
    # How often a buffered cron run (overlap_policy buffer_one) checks its predecessor.
    run_after_poll_s: int = 10
    max_cron_jobs_per_store: int = setting(200, "TICKWORK_MAX_CRON_JOBS_PER_STORE", int)
    # Jobs a store may schedule through the API per minute (0: no limit); see jobs/rate_limit.py.
    max_jobs_per_minute_per_store: int = setting(600, "TICKWORK_MAX_JOBS_PER_MINUTE_PER_STORE", int)
    # Jobs one store, and one plugin within a store, may run at once, unless an admin set the
    # store's own (chalicelib/stores/): under one queue's deployed concurrency, so that a store's
    # flood leaves room for the others.
    store_max_running: int = setting(25, "TICKWORK_STORE_MAX_RUNNING", int)
    plugin_max_running: int = setting(15, "TICKWORK_PLUGIN_MAX_RUNNING", int)
    # How long a paused store's (or plugin's) jobs stay hidden before their messages come back to
    # look again: a resumed store's jobs start at most this late; each look costs one visibility
    # change per ten of its jobs.
    paused_recheck_s: int = setting(60, "TICKWORK_PAUSED_RECHECK_S", _at_least_one)
    backoff_s: tuple[int, ...] = setting(DEFAULT_BACKOFF_S, "TICKWORK_BACKOFF_S", parse_schedule)
    lease_s: int = setting(60, "TICKWORK_LEASE_S", int)
    progress_interval_s: float = setting(1.0, "TICKWORK_PROGRESS_INTERVAL_S", float)
    # A checkpointing job hands over to a fresh invocation when its Lambda has this long left.
    continue_margin_s: float = setting(60.0, "TICKWORK_CONTINUE_MARGIN_S", float)
    # Days a finished job is kept before DynamoDB's TTL deletes it (0: kept for ever).
    job_retention_days: int = setting(90, "TICKWORK_JOB_RETENTION_DAYS", int)
    max_retries_limit: int = setting(25, "TICKWORK_MAX_RETRIES_LIMIT", int)
    default_max_retries: int = 3
    max_log_lines: int = setting(200, "TICKWORK_MAX_LOG_LINES", int)
    # Records of one SQS batch a worker runs side by side (1: one after another).
    record_concurrency: int = setting(1, "TICKWORK_RECORD_CONCURRENCY", _at_least_one)
    # Connections each AWS client keeps open: as many as the threads that call it at once (a
    # Lambda's records, its heartbeats and the tick's pool fit in 32; the embedded stack runs
    # every invocation in one process and asks for more).
    boto_pool_connections: int = setting(32, "TICKWORK_BOTO_POOL_CONNECTIONS", _at_least_one)
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    # The bucket that holds job values too large for their item (jobs/values.py), and the size
    # in bytes (compact JSON) past which a payload, result or checkpoint goes there.
    values_bucket: str = setting("tickwork-job-values", "TICKWORK_VALUES_BUCKET")
    inline_value_bytes: int = setting(1024, "TICKWORK_INLINE_VALUE_BYTES", int)
    jwt_secret: str | None = setting(None, "TICKWORK_JWT_SECRET")
    # Still verifies tokens after a rotation (docs/signing-keys.md); only with jwt_secret.
    jwt_previous_secret: str | None = setting(None, "TICKWORK_JWT_PREVIOUS_SECRET")
    jwt_secret_parameter: str | None = setting(None, "TICKWORK_JWT_SECRET_PARAMETER")
    # Environment variables, besides TICKWORK_PUBLIC_*, that jobs may read as {{env:NAME}}.
    job_env_allowlist: tuple[str, ...] = setting((), "TICKWORK_JOB_ENV_ALLOWLIST", _names)
    # The values of the variables above, as this process saw them (see job_environment()).
    job_environment: Mapping[str, str] = field(default_factory=dict)
    # The API's own address, which api_call jobs call with a token of their rights.
    api_base_url: str | None = setting(None, "TICKWORK_API_BASE_URL")
    # Hosts and networks webhooks may reach although they are not public (tests, a VPC service).
    webhook_allowlist: tuple[str, ...] = setting((), "TICKWORK_WEBHOOK_ALLOWLIST", _names)
    # Certificates outgoing HTTPS trusts, besides the system's (requests' own variables).
    ca_bundle: str | None = setting(None, ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"))
    email_sender: str | None = setting(None, "TICKWORK_EMAIL_SENDER")
    cleanup_bucket: str | None = setting(None, "TICKWORK_CLEANUP_BUCKET")
    # DEBUG also lets botocore, boto3, urllib3 and s3transfer below WARNING (docs/operations.md#logs).
    log_level: str = setting("INFO", "LOG_LEVEL")
    # Set by Lambda: its runtime's log handler is the one to format (chalicelib/telemetry/setup.py).
    lambda_function: str | None = setting(None, "AWS_LAMBDA_FUNCTION_NAME")
    # database_query's connection string, or where it lives in SSM or Secrets Manager (never a
    # job's {{secret:...}}).
    database_url: str | None = setting(None, "DATABASE_URL")
    database_url_secret: str | None = setting(None, "TICKWORK_DATABASE_URL_SECRET")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings ``env`` (the process environment by default) sets; the defaults for the rest."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in fields(cls):
            names = spec.metadata.get("env", ())
            raw = next((env[name].strip() for name in names if env.get(name, "").strip()), None)
            if raw is not None:
                values[spec.name] = spec.metadata["parse"](raw)
        allowlist = values.get("job_env_allowlist", ())
        values["job_environment"] = job_environment(env, allowlist)
        return cls(**values)


def job_environment(env: Mapping[str, str], allowlist: tuple[str, ...]) -> dict[str, str]:
    """The variables a job's {{env:NAME}} may resolve to; the reference rule narrows them further."""
    return {name: value for name, value in env.items() if name.startswith(PUBLIC_ENV_PREFIX) or name in allowlist}


def running_under_chalice_local() -> bool:
    """`chalice local` sets this before it imports app.py."""
    return bool(os.environ.get("AWS_CHALICE_CLI_MODE"))


def queue_name(prefix: str, priority: str) -> str:
    return f"{prefix}{priority}"


def dead_letter_queue_name(prefix: str, priority: str) -> str:
    return f"{prefix}{priority}-dlq"
