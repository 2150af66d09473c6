"""``erase_store``: everything a store keeps here, deleted in bounded, resumable steps, with a report.

Admin-only; started by ``DELETE /api/admin/stores/{store_id}/data`` (chalicelib/jobs/erasure.py).
In this order, so that nothing it deletes is made again behind it by what it has not reached:

1. cron jobs (the store's index of the cron table): no new runs are fired;
2. jobs, cron runs included (``by_store``, oldest first): finished ones are deleted with their log
   item and S3 objects; unfinished ones are cancelled through the service, as the API's cancel
   does, then deleted if that finished them (pending, retrying), else looked at again at the end;
3. SSM parameters under ``/tickwork/<stage>/stores/<store>/``;
4. Secrets Manager secrets under ``tickwork/<stage>/stores/<store>/``, without recovery;
   A deleted job's debounce or dedup window item goes with it (if it still names that job);
5. the jobs that were still running: deleted if they ended meanwhile, else named in the report
   (``left_running``) and the run is not ``complete``; another DELETE deletes them once ended;
6. the items of the batches its deleted jobs belonged to (descriptions, callbacks' payloads),
   once none of the store's jobs is left running (a running child still counts on its batch).

Each step is a page, and the state is checkpointed after each one: when the invocation nears its
end the job continues in a fresh one, and a crash resumes from the last checkpoint, reading again
what it had read since (deleted things are gone, so that costs reads, never a second delete).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.auth import RESERVED_STORE_IDS, SYSTEM_PRINCIPAL
from chalicelib.crons.store import CronFilter
from chalicelib.errors import ConflictError, CronJobNotFoundError, JobNotFoundError, JobStateError
from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler
from chalicelib.jobs.lifecycle import TERMINAL_STATUSES, JobStatus
from chalicelib.jobs.model import ID_PATTERN
from chalicelib.jobs.store_jobs import Deleted
from chalicelib.references import ReferencePolicy

PHASES = ("cron_jobs", "jobs", "parameters", "secrets", "running_jobs", "batches", "done")
# Where each phase starts on the progress bar (a phase's size is unknown until it is done).
PROGRESS_AT = {
    "cron_jobs": 0,
    "jobs": 10,
    "parameters": 70,
    "secrets": 80,
    "running_jobs": 90,
    "batches": 95,
    "done": 100,
}
DELETED_KINDS = ("cron_jobs", "jobs", "log_items", "objects", "parameters", "secrets", "windows", "batches")
# Job ids kept to look at again, at most: the checkpoint holds them and is capped at 64 KB.
MAX_KEPT_IDS = 1000
# A job that changes under every read (or a cron job under every delete) is tried this often.
MAX_TRIES = 3


class EraseStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    store_id: str = Field(pattern=ID_PATTERN, description="the store whose data goes")
    page_size: int = Field(default=25, ge=1, le=100, description="things read (and deleted) per step")

    @field_validator("store_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_STORE_IDS:
            raise ValueError(f"{value!r} is the platform's own pseudo-store, not a tenant's")
        return value


class ErasureState(BaseModel):
    """Where a run is: checkpointed after every step, and the report's source."""

    model_config = ConfigDict(extra="ignore")

    phase: str = PHASES[0]
    after: dict[str, str] | None = None  # the jobs pass's place in by_store
    deleted: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(DELETED_KINDS, 0))
    running: list[str] = Field(default_factory=list)  # cancelled while running: looked at again at the end
    batches: list[str] = Field(default_factory=list)  # of the deleted jobs: their items go last
    left_running: list[str] = Field(default_factory=list)
    cron_jobs_left: int = 0  # changed under every delete: still there
    not_tracked: int = 0  # unfinished jobs past MAX_KEPT_IDS: neither deleted nor named

    def report(self, store_id: str) -> dict[str, Any]:
        left = len(self.left_running) + self.cron_jobs_left + self.not_tracked
        return {
            "store_id": store_id,
            "deleted": dict(self.deleted),
            "left_running": list(self.left_running),
            "cron_jobs_left": self.cron_jobs_left,
            "not_tracked": self.not_tracked,
            "complete": left == 0,
        }


class EraseStoreJob(ConfiguredJobHandler[EraseStoreConfig]):
    """Deletes a store's jobs, log lines, stored values, cron jobs and secrets; reports what it deleted."""

    config_model = EraseStoreConfig

    def run(self, config: EraseStoreConfig) -> dict[str, Any]:
        state = ErasureState.model_validate(self.checkpoint_state or {})
        folder = ReferencePolicy.of(self.platform.settings).store_folder(config.store_id)
        seen: set[str] = set()  # secrets deleted by this invocation, which a listing may still show
        steps = {
            "cron_jobs": lambda: self._cron_jobs(config, state),
            "jobs": lambda: self._jobs(config, state),
            "parameters": lambda: self._parameters(folder, state, seen),
            "secrets": lambda: self._stored_secrets(folder.removeprefix("/"), state, seen),
            "running_jobs": lambda: self._running_jobs(config, state),
            "batches": lambda: self._batches(config, state),
        }
        while state.phase != "done":
            if not steps[state.phase]():
                state.phase = PHASES[PHASES.index(state.phase) + 1]
            self.update_progress(PROGRESS_AT[state.phase], f"{state.phase}: {sum(state.deleted.values())} deleted")
            self.checkpoint(state.model_dump(mode="json"))
        report = state.report(config.store_id)
        self.log(
            f"erased store {config.store_id}: "
            + ", ".join(f"{count} {kind}" for kind, count in report["deleted"].items())
            + f"; complete: {report['complete']}"
        )
        return report

    # --- each step: one page; True while its phase has more ---------------------------------

    def _cron_jobs(self, config: EraseStoreConfig, state: ErasureState) -> bool:
        # Deleted ones are gone from the index: each page is read from the top.
        crons = self.platform.crons
        page = crons.store.list_for_store(config.store_id, CronFilter(), limit=config.page_size, next_token=None)
        deleted = kept = 0
        for cron in page.crons:
            try:
                crons.delete(cron.id, SYSTEM_PRINCIPAL)  # re-reads and retries a cron job that changed
                deleted += 1
            except CronJobNotFoundError:
                continue
            except ConflictError:
                kept += 1
        state.deleted["cron_jobs"] += deleted
        if deleted == 0:
            # Nothing moved: what is left kept changing; say so rather than loop on it.
            state.cron_jobs_left = kept
            return False
        return True

    def _jobs(self, config: EraseStoreConfig, state: ErasureState) -> bool:
        page = self.platform.store_jobs.page(config.store_id, after=state.after, limit=config.page_size)
        for job_id, status in page.jobs:
            if job_id == self.job.id:
                continue  # an erase scheduled in the store it erases finishes first
            gone = status in TERMINAL_STATUSES and self._delete(job_id, status, state)
            if not gone and not self._settle(job_id, state):
                self._keep(state.running, job_id, state)
            for item_id in page.windows.get(job_id, []):
                state.deleted["windows"] += int(self.platform.store_jobs.delete_window_item(item_id, job_id))
            batch_id = page.batches.get(job_id)
            if batch_id is not None and batch_id not in state.batches:
                if len(state.batches) < MAX_KEPT_IDS:
                    state.batches.append(batch_id)
                else:
                    state.not_tracked += 1  # its item is left to its expiry; the report says incomplete
        state.after = page.after
        return page.after is not None

    def _parameters(self, folder: str, state: ErasureState, seen: set[str]) -> bool:
        names = self.platform.store_secrets.delete_parameters(folder, seen=seen)
        seen.update(names)
        state.deleted["parameters"] += len(names)
        return bool(names)

    def _stored_secrets(self, prefix: str, state: ErasureState, seen: set[str]) -> bool:
        names = self.platform.store_secrets.delete_secrets(prefix, seen=seen)
        seen.update(names)
        state.deleted["secrets"] += len(names)
        return bool(names)

    def _running_jobs(self, config: EraseStoreConfig, state: ErasureState) -> bool:
        batch, state.running = state.running[: config.page_size], state.running[config.page_size :]
        for job_id in batch:
            if not self._settle(job_id, state):
                self._keep(state.left_running, job_id, state)
        return bool(state.running)

    def _batches(self, config: EraseStoreConfig, state: ErasureState) -> bool:
        if state.left_running:
            return False  # their batches still count them; another DELETE takes both
        batch, state.batches = state.batches[: config.page_size], state.batches[config.page_size :]
        for batch_id in batch:
            state.deleted["batches"] += int(self.platform.store_jobs.delete_batch_item(batch_id))
        return bool(state.batches)

    # --- one job ---------------------------------------------------------------------------

    def _settle(self, job_id: str, state: ErasureState) -> bool:
        """Delete the job if it is finished, or can be finished by a cancel; True once it is gone,
        False while it runs (a running job is asked to cancel, and ends when its handler notices)."""
        for _ in range(MAX_TRIES):
            job = self.platform.store.get(job_id)  # strongly consistent, unlike the index
            if job is None:
                return True
            if job.status in TERMINAL_STATUSES:
                if self._delete(job_id, job.status, state):
                    return True
                continue  # retried meanwhile
            if job.status == JobStatus.CANCELLING:
                return False
            try:
                cancelled = self.platform.jobs.cancel(job_id, SYSTEM_PRINCIPAL)
            except JobNotFoundError:
                return True
            except (JobStateError, ConflictError):
                continue  # it finished or changed meanwhile: read it again
            if cancelled.status not in TERMINAL_STATUSES:
                return False
        return False

    def _delete(self, job_id: str, status: JobStatus, state: ErasureState) -> bool:
        deleted: Deleted = self.platform.store_jobs.delete(job_id, status)
        state.deleted["jobs"] += int(deleted.job)
        state.deleted["log_items"] += int(deleted.log_item)
        state.deleted["objects"] += deleted.objects
        return deleted.job

    @staticmethod
    def _keep(ids: list[str], job_id: str, state: ErasureState) -> None:
        if job_id in ids:
            return
        if len(state.running) + len(state.left_running) >= MAX_KEPT_IDS:
            state.not_tracked += 1
            return
        ids.append(job_id)
