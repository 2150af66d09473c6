"""Settings read from the environment (Lambda stage variables, the embedded stack, tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    jobs_table: str = "tickwork-jobs"
    cron_jobs_table: str = "tickwork-cron-jobs"
    tick_interval_s: int = 60
    # How often a buffered cron run (overlap_policy buffer_one) checks its predecessor.
    run_after_poll_s: int = 10
    max_cron_jobs_per_store: int = 200
    # Jobs a store may schedule through the API per minute (0: no limit); see rate_limit.py.
    max_jobs_per_minute_per_store: int = 600
    queue_prefix: str = "tickwork-"
    backoff_s: tuple[int, ...] = DEFAULT_BACKOFF_S
    lease_s: int = 60
    progress_interval_s: float = 1.0
    # A checkpointing job hands over to a fresh invocation when its Lambda has this long left.
    continue_margin_s: float = 60.0
    # Days a finished job is kept before DynamoDB's TTL deletes it (0: kept for ever).
    job_retention_days: int = 90
    max_retries_limit: int = 25
    default_max_retries: int = 3
    max_log_lines: int = 200
    # Records of one SQS batch a worker runs side by side (1: one after another).
    record_concurrency: int = 1
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    jwt_secret: str | None = None
    # Still verifies tokens after a rotation (docs/signing-keys.md); only with jwt_secret.
    jwt_previous_secret: str | None = None
    jwt_secret_parameter: str | None = None
    plugins_package: str = "plugins"
    # The deployment stage (`dev`, `prod`): jobs' {{secret:...}} references live under /tickwork/<stage>/.
    stage: str = "dev"
    # Environment variables, besides TICKWORK_PUBLIC_*, that jobs may read as {{env:NAME}}.
    job_env_allowlist: tuple[str, ...] = ()
    # database_query's connection string in SSM or Secrets Manager: never a job's {{secret:...}}.
    database_url_secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            jobs_table=env.get("TICKWORK_JOBS_TABLE", "tickwork-jobs"),
            cron_jobs_table=env.get("TICKWORK_CRON_JOBS_TABLE", "tickwork-cron-jobs"),
            max_cron_jobs_per_store=int(env.get("TICKWORK_MAX_CRON_JOBS_PER_STORE", "200")),
            max_jobs_per_minute_per_store=int(env.get("TICKWORK_MAX_JOBS_PER_MINUTE_PER_STORE", "600")),
            queue_prefix=env.get("TICKWORK_QUEUE_PREFIX", "tickwork-"),
            backoff_s=parse_schedule(env["TICKWORK_BACKOFF_S"]) if env.get("TICKWORK_BACKOFF_S") else DEFAULT_BACKOFF_S,
            lease_s=int(env.get("TICKWORK_LEASE_S", "60")),
            progress_interval_s=float(env.get("TICKWORK_PROGRESS_INTERVAL_S", "1.0")),
            continue_margin_s=float(env.get("TICKWORK_CONTINUE_MARGIN_S", "60")),
            job_retention_days=int(env.get("TICKWORK_JOB_RETENTION_DAYS", "90")),
            max_retries_limit=int(env.get("TICKWORK_MAX_RETRIES_LIMIT", "25")),
            max_log_lines=int(env.get("TICKWORK_MAX_LOG_LINES", "200")),
            record_concurrency=max(1, int(env.get("TICKWORK_RECORD_CONCURRENCY", "1"))),
            jwt_secret=env.get("TICKWORK_JWT_SECRET") or None,
            jwt_previous_secret=env.get("TICKWORK_JWT_PREVIOUS_SECRET") or None,
            jwt_secret_parameter=env.get("TICKWORK_JWT_SECRET_PARAMETER") or None,
            plugins_package=env.get("TICKWORK_PLUGINS_PACKAGE", "plugins"),
            stage=env.get("TICKWORK_STAGE", "").strip() or "dev",
            job_env_allowlist=tuple(
                name.strip() for name in env.get("TICKWORK_JOB_ENV_ALLOWLIST", "").split(",") if name.strip()
            ),
            database_url_secret=env.get("TICKWORK_DATABASE_URL_SECRET", "").strip() or None,
        )


def queue_name(prefix: str, priority: str) -> str:
    return f"{prefix}{priority}"


def dead_letter_queue_name(prefix: str, priority: str) -> str:
    return f"{prefix}{priority}-dlq"
