"""The process-wide wiring: one set of adapters per Lambda container, built on first use."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig

from chalicelib.auth import Keyring
from chalicelib.aws.objects import S3Objects
from chalicelib.aws.queues import SqsPriorityQueues
from chalicelib.aws.secrets import SecretResolver
from chalicelib.aws.send_batches import DEFAULT_LINGER_S, BatchingQueues
from chalicelib.aws.store_secrets import StoreSecrets
from chalicelib.batches.service import BatchService
from chalicelib.batches.store import DynamoBatchStore
from chalicelib.clock import Clock, SystemClock
from chalicelib.config import Settings
from chalicelib.crons.gate import CronRunGate
from chalicelib.crons.heartbeat import TickHeartbeat
from chalicelib.crons.outcomes import CronOutcomeRecorder
from chalicelib.crons.store import DynamoCronStore
from chalicelib.errors import ServiceUnavailableError
from chalicelib.jobs.finished import FinishedJobs
from chalicelib.jobs.job_metrics import JobMetrics
from chalicelib.jobs.manager import JobManager
from chalicelib.jobs.model import Job
from chalicelib.jobs.rate_limit import ScheduleRateLimiter
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.jobs.service import JobService
from chalicelib.jobs.store import DynamoJobStore
from chalicelib.jobs.store_jobs import StoreJobs
from chalicelib.jobs.values import JobValues
from chalicelib.jobs.worker import JobWorker
from chalicelib.metrics import Metrics
from chalicelib.signing_keys import CachedKeyring, read_parameter_keyring
from chalicelib.stats.recorder import StatsRecorder
from chalicelib.stats.store import DynamoStats
from chalicelib.stores.backlog import StoreBacklog
from chalicelib.stores.gate import StoreGate
from chalicelib.stores.policy import Caps
from chalicelib.stores.slots import StoreSlots

if TYPE_CHECKING:
    from chalicelib.crons.service import CronService
    from chalicelib.crons.tick import MinuteTick

# Standard retry mode backs off on throttling; the connection pool is as large as the threads
# that share a client (Settings.boto_pool_connections): a smaller one discards and reopens
# connections ("connection pool is full").
BOTO_CONFIG = BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


class Runtime:
    """Adapters and use cases for one process. ``boto3.Session`` honours AWS_ENDPOINT_URL."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None, session: Any = None) -> None:
        self.settings = settings or Settings.from_env()
        self.clock = clock or SystemClock()
        self._session = session or boto3.session.Session(region_name=self.settings.region)
        self._lock = threading.Lock()
        self._boto_config = BOTO_CONFIG.merge(BotoConfig(max_pool_connections=self.settings.boto_pool_connections))

    def client(self, service: str) -> Any:
        return self._session.client(service, config=self._boto_config)

    @cached_property
    def store(self) -> DynamoJobStore:
        return DynamoJobStore(self._jobs_table, values=self.job_values, retention_days=self.settings.job_retention_days)

    @cached_property
    def job_values(self) -> JobValues:
        objects = S3Objects(self.client("s3"), self.settings.values_bucket)
        return JobValues(objects, inline_bytes=self.settings.inline_value_bytes)

    @cached_property
    def _jobs_table(self) -> Any:
        return self._session.resource("dynamodb", config=self._boto_config).Table(self.settings.jobs_table)

    @cached_property
    def metrics(self) -> Metrics:
        """One per process: each invocation (batch, tick, request) flushes what it recorded."""
        return Metrics(
            stage=self.settings.stage, namespace=self.settings.metrics_namespace, enabled=self.settings.metrics_enabled
        )

    @cached_property
    def job_metrics(self) -> JobMetrics:
        return JobMetrics(self.metrics, registry, self.stats)

    @cached_property
    def stats(self) -> StatsRecorder:
        """The overview's per-minute counters; like the metrics, written once per invocation."""
        return StatsRecorder(self.stats_store, self.clock)

    @cached_property
    def stats_store(self) -> DynamoStats:
        return DynamoStats(self._jobs_table)

    @cached_property
    def queues(self) -> SqsPriorityQueues:
        return SqsPriorityQueues(self.client("sqs"), self.settings.queue_prefix)

    @cached_property
    def cron_store(self) -> DynamoCronStore:
        resource = self._session.resource("dynamodb", config=self._boto_config)
        return DynamoCronStore(resource.Table(self.settings.cron_jobs_table), jobs_table_name=self.settings.jobs_table)

    @cached_property
    def cron_outcomes(self) -> CronOutcomeRecorder:
        return CronOutcomeRecorder(self.cron_store, self.clock)

    def job_finished(self, job: Job) -> None:
        """Every listener of a job's final status: its cron job's count, its batch's count."""
        try:
            self.cron_outcomes(job)
        finally:
            if job.batch_id is not None:
                self.batches(job)

    @cached_property
    def batches(self) -> BatchService:
        return BatchService(store=DynamoBatchStore(self._jobs_table), jobs=self.jobs, clock=self.clock)

    @cached_property
    def jobs(self) -> JobService:
        return self._job_service(self.queues)

    def _job_service(self, queues: SqsPriorityQueues) -> JobService:
        return JobService(
            store=self.store,
            queues=queues,
            registry=registry,
            clock=self.clock,
            settings=self.settings,
            on_finished=self.job_finished,
            metrics=self.job_metrics,
            rate_limiter=ScheduleRateLimiter(
                self._jobs_table, self.clock, per_minute=self.settings.max_jobs_per_minute_per_store
            ),
        )

    @cached_property
    def worker(self) -> JobWorker:
        return JobWorker(
            store=self.store,
            queues=self.queues,
            registry=registry,
            clock=self.clock,
            settings=self.settings,
            platform=self,
            on_finished=self.job_finished,
            metrics=self.job_metrics,
            cron_gate=CronRunGate(self.cron_store),
            store_gate=StoreGate(
                self.store_slots,
                self.queues,
                self.clock,
                paused_recheck_s=self.settings.paused_recheck_s,
                job_of=self.store.get,
            ),
        )

    @cached_property
    def store_slots(self) -> StoreSlots:
        caps = Caps(store=self.settings.store_max_running, plugin=self.settings.plugin_max_running)
        return StoreSlots(self._jobs_table, default_caps=caps, hold_s=self.settings.lease_s)

    @cached_property
    def store_backlog(self) -> StoreBacklog:
        return StoreBacklog(self._jobs_table)

    @cached_property
    def crons(self) -> CronService:
        return self._cron_service(self.jobs)

    def _cron_service(self, jobs: JobService) -> CronService:
        from chalicelib.crons.service import CronService  # loads the cron library only where needed

        return CronService(
            store=self.cron_store, jobs=jobs, registry=registry, clock=self.clock, settings=self.settings
        )

    @cached_property
    def tick(self) -> MinuteTick:
        from chalicelib.crons.tick import MinuteTick

        # The tick fires from a pool of threads, whose messages leave ten to a SendMessageBatch.
        concurrency = self.settings.tick_concurrency
        # One thread at a time has no companion to wait for: its messages leave at once.
        linger_s = DEFAULT_LINGER_S if concurrency > 1 else 0.0
        jobs = self._job_service(BatchingQueues(self.client("sqs"), self.settings.queue_prefix, linger_s=linger_s))
        return MinuteTick(
            crons=self._cron_service(jobs),
            jobs=jobs,
            clock=self.clock,
            interval_s=self.settings.tick_interval_s,
            declarations=lambda: job_manager.cron_declarations,
            concurrency=concurrency,
            budget_s=self.settings.tick_budget_s,
            pauses=self.store_slots.pauses,
            metrics=self.metrics,
            heartbeat=self.tick_heartbeat.beat,
            stats=self.stats,
            depths=self.queue_depths,
            batches=self.batches.sweep,
        )

    def queue_depths(self) -> dict[str, int]:
        """Messages per priority, waiting or in flight (the overview's queue depth)."""
        return {priority: d["visible"] + d["in_flight"] for priority, d in self.queues.depths().items()}

    @cached_property
    def tick_heartbeat(self) -> TickHeartbeat:
        return TickHeartbeat(self._jobs_table)

    @cached_property
    def finished_jobs(self) -> FinishedJobs:
        return FinishedJobs(self._jobs_table, self.store)

    @cached_property
    def store_jobs(self) -> StoreJobs:
        return StoreJobs(self._jobs_table, self.store)

    @cached_property
    def store_secrets(self) -> StoreSecrets:
        return StoreSecrets(self.client("ssm"), self.client("secretsmanager"))

    @cached_property
    def ses(self) -> Any:
        return self.client("ses")

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def secrets(self) -> SecretResolver:
        return SecretResolver(self.client("ssm"), self.client("secretsmanager"))

    @property
    def jwt_secret(self) -> str:
        """The secret new tokens are signed with (the keyring's current one)."""
        return self.jwt_keys.signing

    @cached_property
    def jwt_keys(self) -> CachedKeyring:
        """The signing and verifying keys, re-read every few minutes by this runtime's clock."""
        return CachedKeyring(self._read_jwt_keys, self.clock)

    def _read_jwt_keys(self) -> Keyring:
        if self.settings.jwt_secret:
            return Keyring(current=self.settings.jwt_secret, previous=self.settings.jwt_previous_secret)
        if self.settings.jwt_secret_parameter:
            keyring = read_parameter_keyring(self.client("ssm"), self.settings.jwt_secret_parameter)
            if keyring is not None:
                return keyring
            raise ServiceUnavailableError(
                f"Authentication is not configured: SSM has no parameter {self.settings.jwt_secret_parameter}.",
                code="auth_not_configured",
            )
        raise ServiceUnavailableError(
            "Authentication is not configured: set TICKWORK_JWT_SECRET or TICKWORK_JWT_SECRET_PARAMETER.",
            code="auth_not_configured",
        )


registry = JobTypeRegistry()
_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime()
        return _current


def flush_metrics() -> None:
    """Write the metrics this process gathered, if it built its runtime and recorded any (a request
    for the dashboard's page builds nothing)."""
    with _current_lock:
        built = _current
    if built is not None and "metrics" in built.__dict__:
        built.metrics.flush()
    if built is not None and "stats" in built.__dict__:
        built.stats.flush()  # a cancel's outcome, counted by the request


def use(runtime: Runtime | None) -> None:
    """Replace the process runtime (tests, the embedded stack); None rebuilds it from the environment."""
    global _current
    with _current_lock:
        _current = runtime


job_manager = JobManager(registry, lambda: current().jobs)
