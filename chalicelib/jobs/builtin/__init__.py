"""Built-in job types, usable as a background job ``type`` and as a cron ``job_type``."""

from __future__ import annotations

from chalicelib.jobs.builtin.api_call import ApiCallConfig, ApiCallJob
from chalicelib.jobs.builtin.cleanup import CleanupConfig, CleanupJob
from chalicelib.jobs.builtin.database_query import DatabaseQueryConfig, DatabaseQueryJob
from chalicelib.jobs.builtin.email_job import EmailConfig, EmailJob
from chalicelib.jobs.builtin.erase_store import EraseStoreConfig, EraseStoreJob
from chalicelib.jobs.builtin.webhook import WebhookConfig, WebhookJob
from chalicelib.jobs.registry import JobTypeRegistry


def register_builtin_types(registry: JobTypeRegistry) -> None:
    registry.register("api_call", ApiCallJob, payload_model=ApiCallConfig)
    registry.register("webhook", WebhookJob, payload_model=WebhookConfig)
    registry.register("email", EmailJob, payload_model=EmailConfig)
    registry.register("database_query", DatabaseQueryJob, payload_model=DatabaseQueryConfig, admin_only=True)
    registry.register("cleanup", CleanupJob, payload_model=CleanupConfig, admin_only=True)
    registry.register("erase_store", EraseStoreJob, payload_model=EraseStoreConfig, admin_only=True)
