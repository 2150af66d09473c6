"""Cron-job use cases: create, change, pause, run now, list executions, preview."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.audit import AuditEntry, appended
from chalicelib.auth import SYSTEM_PRINCIPAL, Principal, Role
from chalicelib.clock import Clock, to_iso
from chalicelib.config import Settings
from chalicelib.crons.expression import CronSchedule, parse_schedule
from chalicelib.crons.model import (
    DEFAULTS,
    MAX_CONFIGURATION_BYTES,
    REQUIRED_ON_CREATE,
    CronJob,
    CronJobFields,
    PreviewRequest,
)
from chalicelib.crons.slots import CronSlots, Fired, execution_job
from chalicelib.crons.store import DUE_SHARD_KEYS, CronExistsError, CronFilter, CronPage, DynamoCronStore
from chalicelib.errors import (
    BadRequestError,
    ConflictError,
    CronJobNotFoundError,
    ForbiddenError,
    PayloadTooLargeError,
    StaleWriteError,
    TooManyRequestsError,
    UnknownJobTypeError,
)
from chalicelib.jobs.model import Job, is_generated_id, parse_model
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.jobs.service import JobService
from chalicelib.jobs.store import JobFilter, JobPage
from chalicelib.masking import destination, echoed_masks, keep_masked
from chalicelib.references import ReferencePolicy, rule_for
from chalicelib.rights import Rights, rights_after_save
from chalicelib.templating import check_placeholders

DECLARED_NAMESPACE = uuid.UUID("9a3b1f0e-6c2d-4d7e-8f5a-1b2c3d4e5f60")
MAX_WRITE_ATTEMPTS = 5


class CronService:
    def __init__(
        self,
        *,
        store: DynamoCronStore,
        jobs: JobService,
        registry: JobTypeRegistry,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.slots = CronSlots(store=store, jobs=jobs, clock=clock, interval_s=settings.tick_interval_s)

    # --- create and change ---------------------------------------------------------------

    def create(self, fields: CronJobFields, principal: Principal) -> CronJob:
        """Save a new cron job; its first slot, if due before the next tick, is queued now."""
        return self.slots.fire_ahead(self._create(fields, principal))

    def _create(
        self, fields: CronJobFields, principal: Principal, *, cron_id: str | None = None, declared_by: str | None = None
    ) -> CronJob:
        given = fields.model_dump(exclude_unset=True)
        missing = [name for name in REQUIRED_ON_CREATE if given.get(name) in (None, "")]
        if missing:
            raise BadRequestError(
                f"Missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}.",
                code="validation_error",
                details=[{"field": name, "message": "required"} for name in missing],
            )
        values = {**DEFAULTS, **given}
        store_id = principal.store_for_new_job(values.get("store_id"))
        values["store_id"] = store_id
        values["plugin_id"] = principal.plugin_for_new_job(values.get("plugin_id"))
        self._check_quota(store_id)
        now = self.clock.now()
        stamp = to_iso(now)
        cron = CronJob(
            id=cron_id or str(uuid.uuid4()),
            created_at=stamp,
            updated_at=stamp,
            created_by=principal.label,
            updated_by=principal.label,
            declared_by=declared_by,
            rights=Rights.of(principal),
            audit=appended([], "created", principal.label, stamp, detail=declared_by),
            **{k: v for k, v in values.items() if k in CronJob.model_fields},
        )
        cron = self._validated(cron, principal, now, previous=None)
        return self.store.create(cron)

    def update(self, cron_id: str, fields: CronJobFields, principal: Principal, *, replace: bool) -> CronJob:
        given = fields.model_dump(exclude_unset=True)
        if replace:
            missing = [name for name in REQUIRED_ON_CREATE if given.get(name) in (None, "")]
            if missing:
                raise BadRequestError(
                    f"PUT replaces the whole cron job; missing: {', '.join(missing)}.",
                    code="validation_error",
                    details=[{"field": name, "message": "required"} for name in missing],
                )
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._get_to_change(cron_id, principal)
            if "store_id" in given and given["store_id"] != current.store_id:
                raise BadRequestError(
                    "A cron job cannot move to another store; create it there instead.",
                    code="validation_error",
                    details=[{"field": "store_id", "message": "cannot change"}],
                )
            base = {**current.model_dump(), **(DEFAULTS if replace else {}), **given}
            self._refuse_masks_sent_elsewhere(base, current)
            base["configuration"] = keep_masked(base["configuration"], current.configuration)
            if "plugin_id" in given:
                if given["plugin_id"] != current.plugin_id and not principal.is_admin:
                    # A store owner could otherwise slip a job into a plugin's view, or take one out.
                    raise ForbiddenError(
                        "Only an admin may move a cron job to another plugin.", code="plugin_forbidden"
                    )
                base["plugin_id"] = principal.plugin_for_new_job(given["plugin_id"])
            now = self.clock.now()
            base.update(updated_at=to_iso(now), updated_by=principal.label, version=current.version + 1)
            base["rights"] = rights_after_save(
                principal,
                current.rights,
                rewrites_what_runs=replace or bool({"configuration", "job_type"} & set(given)),
            )
            base["audit"] = appended(
                current.audit,
                "replaced" if replace else "changed",
                principal.label,
                to_iso(now),
                ", ".join(sorted(given)),
            )
            if base["is_active"] and not current.is_active:
                # Resumed: as POST .../resume, its missed slots follow the misfire policy.
                base["paused_reason"] = None
                base["consecutive_failures"] = 0
            updated = self._validated(CronJob.model_validate(base), principal, now, previous=current)
            try:
                saved = self.store.replace(updated, expected_version=current.version)
            except StaleWriteError:
                continue
            return self.slots.fire_ahead(saved)
        raise ConflictError(f"Cron job {cron_id} kept changing; try again.", code="write_contention")

    def set_active(self, cron_id: str, principal: Principal, active: bool | None) -> CronJob:
        """Pause (False), resume (True) or toggle (None)."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._get_to_change(cron_id, principal)
            target = (not current.is_active) if active is None else active
            if target == current.is_active:
                return self.slots.fire_ahead(current)
            now = self.clock.now()
            changes: dict[str, Any] = {
                "is_active": target,
                "updated_at": to_iso(now),
                "updated_by": principal.label,
                "version": current.version + 1,
                "paused_reason": None if target else f"paused by {principal.label}",
                "audit": [
                    AuditEntry.model_validate(entry)
                    for entry in appended(
                        current.audit, "resumed" if target else "paused", principal.label, to_iso(now)
                    )
                ],
            }
            if target and current.next_run_at is None:
                # Deactivated after its last slot or its max_runs: resume from now.
                changes["next_run_at"] = to_iso(self._schedule(current).next_after(now))
            if target:
                changes["consecutive_failures"] = 0
            # A resumed job keeps its next_run_at: the slots missed while paused follow its
            # misfire policy at the next tick (docs/state-machines.md).
            try:
                saved = self.store.replace(current.model_copy(update=changes), expected_version=current.version)
            except StaleWriteError:
                continue
            return self.slots.fire_ahead(saved)
        raise ConflictError(f"Cron job {cron_id} kept changing; try again.", code="write_contention")

    def delete(self, cron_id: str, principal: Principal) -> None:
        # Every run's outcome bumps the version too: re-read rather than refuse the delete.
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._get_to_change(cron_id, principal)
            try:
                self.store.delete(current)
                return
            except StaleWriteError:
                continue
        raise ConflictError(f"Cron job {cron_id} kept changing; try again.", code="write_contention")

    # --- read ----------------------------------------------------------------------------

    def get(self, cron_id: str, principal: Principal) -> CronJob:
        # Cron ids are uuid4 or uuid5 too: any other id names nothing and is not looked up.
        cron = self.store.get(cron_id) if is_generated_id(cron_id) else None
        if cron is None or not self._visible(cron, principal):
            raise CronJobNotFoundError(f"No cron job {cron_id!r}.")
        return cron

    def _get_to_change(self, cron_id: str, principal: Principal) -> CronJob:
        """The cron job, if ``principal`` may act on it: admin-only types are admin-only for every action."""
        cron = self.get(cron_id, principal)
        self.jobs.require_type_rights(cron.job_type, principal)
        return cron

    @staticmethod
    def _visible(cron: CronJob, principal: Principal) -> bool:
        return principal.can_see(cron.store_id, cron.plugin_id)

    def list(
        self,
        principal: Principal,
        *,
        store_id: str | None,
        plugin_id: str | None,
        job_type: str | None,
        is_active: bool | None,
        limit: int,
        next_token: str | None,
    ) -> CronPage:
        if principal.role == Role.PLUGIN:
            if plugin_id not in (None, principal.plugin_id):
                return CronPage(crons=[], next_token=None)
            plugin_id = principal.plugin_id
        wanted = CronFilter(plugin_id=plugin_id, job_type=job_type, is_active=is_active)
        if store_id is None and principal.is_admin:
            return self.store.list_all(wanted, limit=limit, next_token=next_token)
        if store_id is None:
            if len(principal.stores) != 1:
                raise BadRequestError(
                    "Name a store_id: this token may see several stores.",
                    code="store_id_required",
                    details=[{"field": "store_id", "message": "required"}],
                )
            store_id = next(iter(principal.stores))
        principal.require_store(store_id)
        return self.store.list_for_store(store_id, wanted, limit=limit, next_token=next_token)

    def executions(self, cron_id: str, principal: Principal, *, limit: int, next_token: str | None) -> JobPage:
        cron = self.get(cron_id, principal)
        return self.jobs.store.list(JobFilter(cron_job_id=cron.id), limit=limit, next_token=next_token)

    def preview(self, request: PreviewRequest) -> dict[str, Any]:
        schedule = parse_schedule(request.cron_expression, request.timezone)
        after = request.after or self.clock.now()
        return {
            "valid": True,
            "cron_expression": schedule.expression,
            "timezone": schedule.timezone,
            "description": schedule.description,
            "next_runs": [to_iso_seconds(t) for t in schedule.next_times(after, request.count)],
        }

    # --- firing --------------------------------------------------------------------------

    def run_now(self, cron_id: str, principal: Principal) -> Job:
        cron = self._get_to_change(cron_id, principal)
        self.jobs.admit(cron.store_id)
        now = self.clock.now()
        job = execution_job(cron, slot=now, now=now, job_id=str(uuid.uuid4()), created_by=principal.label)
        return self.jobs.submit(job, now).job

    @staticmethod
    def due_shards() -> tuple[str, ...]:
        return DUE_SHARD_KEYS

    def due_pages(self, shard: str, horizon: datetime) -> Iterator[list[CronJob]]:
        """Pages of the active cron jobs of ``shard`` whose next slot is at or before ``horizon``."""
        return self.store.due(shard, to_iso(horizon))

    def fire_due(self, cron: CronJob, tick_at: datetime, horizon: datetime) -> Fired:
        return self.slots.fire_due(cron, tick_at, horizon)

    # --- declared by plugins -------------------------------------------------------------

    def ensure_declared(self, key: str, fields: dict[str, Any], plugin: str) -> CronJob:
        """Create a plugin's cron job unless it exists: restarting a plugin makes no duplicate."""
        cron_id = str(uuid.uuid5(DECLARED_NAMESPACE, f"{plugin}\n{key}"))
        existing = self.store.get(cron_id)
        if existing is not None:
            return existing
        try:
            return self._create(
                parse_model(CronJobFields, fields),
                SYSTEM_PRINCIPAL,
                cron_id=cron_id,
                declared_by=f"plugin:{plugin}:{key}",
            )
        except CronExistsError:
            found = self.store.get(cron_id)
            assert found is not None
            return found

    # --- helpers -------------------------------------------------------------------------

    def _schedule(self, cron: CronJob) -> CronSchedule:
        return parse_schedule(cron.cron_expression, cron.timezone)

    def _validated(self, cron: CronJob, principal: Principal, now: datetime, *, previous: CronJob | None) -> CronJob:
        """``cron`` checked and normalised; ``previous`` is the stored job it replaces (None: a new one)."""
        schedule = self._schedule(cron)
        try:
            job_type = self.registry.get(cron.job_type)
        except UnknownJobTypeError as error:
            raise UnknownJobTypeError(
                error.message, details=[{"field": "job_type", "message": error.message}]
            ) from None
        if job_type.admin_only and not principal.is_admin:
            raise ForbiddenError(f"Only an admin may create {cron.job_type!r} cron jobs.", code="admin_only_type")
        if cron.max_retries > self.settings.max_retries_limit:
            raise BadRequestError(
                f"max_retries may be at most {self.settings.max_retries_limit}.",
                code="validation_error",
                details=[{"field": "max_retries", "message": f"at most {self.settings.max_retries_limit}"}],
            )
        size = len(json.dumps(cron.configuration, separators=(",", ":")).encode())
        if size > MAX_CONFIGURATION_BYTES:
            raise PayloadTooLargeError(
                f"configuration is {size} bytes; the limit is {MAX_CONFIGURATION_BYTES}.",
                details=[{"field": "configuration", "message": f"over {MAX_CONFIGURATION_BYTES} bytes"}],
            )
        configuration = cron.configuration
        if job_type.plugin is None:  # built-in types take {{...}} templates; plugins' payloads are theirs
            # The rights its runs will act with: an admin who only renamed a tenant's job left them the tenant's.
            rule = rule_for(
                admin=cron.acting_rights.is_admin, store_id=cron.store_id, policy=ReferencePolicy.of(self.settings)
            )
            check_placeholders(configuration, "configuration", rule)
        if job_type.payload_model is not None:
            configuration = parse_model(
                job_type.payload_model, configuration, field_prefix="configuration", context=self.settings
            ).model_dump(mode="json", exclude_unset=True)
        changes: dict[str, Any] = {
            "configuration": configuration,
            "schedule_description": schedule.description,
            "cron_expression": schedule.expression,
            "timezone": schedule.timezone,
        }
        changes["next_run_at"] = self._next_run_at(cron, schedule, now, previous)
        return cron.model_copy(update=changes)

    @staticmethod
    def _next_run_at(cron: CronJob, schedule: CronSchedule, now: datetime, previous: CronJob | None) -> str | None:
        """Where the tick takes the job up: only ever a slot of the schedule in force."""
        if previous is None:
            return to_iso(schedule.next_after(now)) if cron.is_active else None
        if (schedule.expression, schedule.timezone) != (previous.cron_expression, previous.timezone):
            # Paused or not: a next_run_at of the old schedule would fire a slot the new one lacks
            # (or wait for a far one it no longer has). Slots missed while paused from here on
            # are the new schedule's, and follow the misfire policy on resume.
            return to_iso(schedule.next_after(now))
        if cron.is_active and cron.next_run_at is None:
            # Ended (last slot, max_runs) or created paused, now active: from now.
            return to_iso(schedule.next_after(now))
        return cron.next_run_at

    @staticmethod
    def _refuse_masks_sent_elsewhere(base: dict[str, Any], current: CronJob) -> None:
        before = destination(current.job_type, current.configuration)
        # A masked URL echoed unchanged is the same destination: compare with the masks filled in.
        after = destination(base["job_type"], keep_masked(base["configuration"], current.configuration))
        if before == after:
            return
        echoed = echoed_masks(base["configuration"], current.configuration)
        if echoed:
            raise BadRequestError(
                f"{echoed[0]} echoes a hidden value while the destination changes: re-enter the secret.",
                code="secret_reentry_required",
                details=[{"field": path, "message": "re-enter the secret"} for path in echoed],
            )

    def _check_quota(self, store_id: str) -> None:
        limit = self.settings.max_cron_jobs_per_store
        if self.store.count_for_store(store_id, at_least=limit) >= limit:
            raise TooManyRequestsError(
                f"Store {store_id!r} already has {limit} cron jobs, the most it may have.",
                details=[{"field": "store_id", "message": f"limit {limit} reached"}],
            )


def to_iso_seconds(moment: datetime) -> str:
    """Preview times are whole minutes: show them without the microseconds."""
    return to_iso(moment)[:19] + "Z"  # to_iso is fixed width, years before 1000 included
