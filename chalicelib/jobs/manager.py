"""``JobManager``: the object plugins get at start-up (the guide's BackgroundJobManager, in Python)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chalicelib.auth import SYSTEM_PRINCIPAL, Principal
from chalicelib.crons.declarations import CronDeclaration
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.model import Job, ScheduleJobRequest, parse_model
from chalicelib.jobs.registry import JobType, JobTypeRegistry
from chalicelib.jobs.service import JobService


class JobManager:
    """Registers job types and schedules jobs from plugin code running in-process.

    The service behind it is built on first use: plugins register types at import, long
    before any AWS client is needed (and Lambda bills the cold start).
    """

    def __init__(self, registry: JobTypeRegistry, service: Callable[[], JobService]) -> None:
        self.registry = registry
        self._service = service
        self.cron_declarations: list[CronDeclaration] = []

    def declare_cron_job(self, plugin: str, key: str, **fields: Any) -> None:
        """Ask for a cron job (the guide's ``createDailySyncJob``) without calling AWS at import.

        The tick creates it once, under an id derived from (plugin, key): restarts, cold starts
        and several containers make no duplicate, and later edits by its users are kept.
        """
        self.cron_declarations.append(CronDeclaration(plugin=plugin, key=key, fields=fields))

    def register_job_type(
        self,
        job_type: str,
        handler: type[BaseJobHandler],
        *,
        description: str | None = None,
        payload_model: type[BaseModel] | None = None,
        admin_only: bool = False,
    ) -> JobType:
        return self.registry.register(
            job_type, handler, description=description, payload_model=payload_model, admin_only=admin_only
        )

    def schedule_job(
        self,
        *,
        type: str,  # noqa: A002 - the guide's own field name
        store_id: str,
        payload: dict[str, Any] | None = None,
        priority: str = "normal",
        max_retries: int | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        delay: float | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
        timeout_seconds: int | None = None,
        debounce: dict[str, Any] | None = None,
        dedup: dict[str, Any] | None = None,
        expire_after_seconds: int | None = None,
        expires_at: datetime | None = None,
        principal: Principal = SYSTEM_PRINCIPAL,
    ) -> Job:
        """Schedule a job as ``POST /api/background-jobs/schedule`` does; with ``debounce`` or
        ``dedup``, the answer is the window's job (the one that runs)."""
        fields: dict[str, Any] = {
            "type": type,
            "store_id": store_id,
            "payload": payload or {},
            "priority": priority,
            "max_retries": max_retries,
            "user_id": user_id,
            "metadata": metadata or {},
            "delay": delay,
            "run_at": run_at,
            "idempotency_key": idempotency_key,
            "timeout_seconds": timeout_seconds,
            "debounce": debounce,
            "dedup": dedup,
            "expire_after_seconds": expire_after_seconds,
            "expires_at": expires_at,
        }
        request = parse_model(ScheduleJobRequest, {k: v for k, v in fields.items() if v is not None})
        return self._service().schedule(request, principal).job

    def get_job(self, job_id: str, principal: Principal = SYSTEM_PRINCIPAL) -> Job:
        service = self._service()
        # Whole: a plugin reads its payload and result, wherever they are kept.
        return service.store.shown([service.get(job_id, principal)])[0]
