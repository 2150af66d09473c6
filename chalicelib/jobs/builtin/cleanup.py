"""``cleanup``: the scheduler's own old finished jobs, and old objects under an S3 prefix.

Admin-only. Bounded: one run removes at most ``max_deletions`` things and lists at most
``MAX_LISTED_PER_DELETION`` times as many S3 keys, so it fits a Lambda invocation whatever the
backlog. Resumable: jobs are taken oldest first and deleted ones are gone, so the next run picks
up where this one stopped; for S3 the result records the last key reached
(``s3_resume_after``) and the next run of the same cron job starts after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.clock import to_iso
from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler
from chalicelib.jobs.lifecycle import TERMINAL_STATUSES, JobStatus
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.jobs.store import JobFilter

MAX_DELETIONS = 10_000
MAX_LISTED_PER_DELETION = 10
S3_DELETE_BATCH = 1000  # DeleteObjects' own cap


class S3Cleanup(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    bucket: str | None = Field(
        default=None, min_length=3, max_length=63, description="default: TICKWORK_CLEANUP_BUCKET"
    )
    prefix: str = Field(min_length=1, max_length=1024, description="only keys under it, e.g. tmp/exports/")
    older_than_days: int | None = Field(default=None, ge=0, le=3650, description="default: the job's older_than_days")
    start_after: str | None = Field(default=None, max_length=1024, description="resume after this key")


class CleanupConfig(BaseModel):
    """What to remove and how much at most per run."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    older_than_days: int = Field(default=30, ge=1, le=3650)
    statuses: list[JobStatus] = Field(
        default_factory=lambda: [JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED],
        min_length=0,
        max_length=3,
        description="finished statuses whose jobs go; [] leaves jobs alone",
    )
    store_id: str | None = Field(default=None, min_length=1, max_length=128, description="only this store's jobs")
    s3: S3Cleanup | None = None
    max_deletions: int = Field(default=1000, ge=1, le=MAX_DELETIONS, description="per run, jobs and objects together")
    dry_run: bool = Field(default=False, description="report what would go, remove nothing")

    @field_validator("statuses")
    @classmethod
    def _finished_only(cls, value: list[JobStatus]) -> list[JobStatus]:
        unfinished = [status.value for status in value if status not in TERMINAL_STATUSES]
        if unfinished:
            raise ValueError(f"only finished statuses may be cleaned up, not {', '.join(unfinished)}")
        return list(dict.fromkeys(value))


class CleanupJob(ConfiguredJobHandler[CleanupConfig]):
    """Removes old finished jobs, then old objects under the prefix, within one run's budget."""

    config_model = CleanupConfig

    def run(self, config: CleanupConfig) -> dict[str, Any]:
        now = self.platform.clock.now()
        budget = config.max_deletions
        result: dict[str, Any] = {"dry_run": config.dry_run, "jobs_deleted": {}, "jobs_changed_meanwhile": 0}
        cutoff = to_iso(now - timedelta(days=config.older_than_days))
        result["jobs_cutoff"] = cutoff
        for status in config.statuses:
            deleted, changed = self._delete_jobs(status, cutoff, config, budget)
            result["jobs_deleted"][status.value] = deleted
            result["jobs_changed_meanwhile"] += changed
            budget -= deleted
            self.update_progress(50 * (config.max_deletions - budget) / config.max_deletions)
        complete = budget > 0
        if config.s3 is not None:
            s3_result = self._delete_objects(config, config.s3, budget, now)
            budget -= s3_result["s3_deleted"]
            complete = complete and s3_result["s3_resume_after"] is None
            result.update(s3_result)
        result["complete"] = complete
        removed = config.max_deletions - budget
        self.log(f"{'would remove' if config.dry_run else 'removed'} {removed} (complete: {complete})")
        return result

    def _delete_jobs(self, status: JobStatus, cutoff: str, config: CleanupConfig, budget: int) -> tuple[int, int]:
        if budget <= 0:
            return 0, 0
        finished = self.platform.finished_jobs
        found = finished.older_than(status, cutoff, limit=budget, store_id=config.store_id)
        if config.dry_run:
            return len(found), 0
        deleted = changed = 0
        for item in found:
            if finished.delete(item, status):
                deleted += 1
            else:
                changed += 1
            if (deleted + changed) % 100 == 0:
                self.update_progress(50 * deleted / max(config.max_deletions, 1))
        return deleted, changed

    def _delete_objects(self, config: CleanupConfig, s3: S3Cleanup, budget: int, now: Any) -> dict[str, Any]:
        bucket = s3.bucket or self.platform.settings.cleanup_bucket
        if not bucket:
            raise PermanentJobError("no bucket: give s3.bucket or set TICKWORK_CLEANUP_BUCKET")
        days = s3.older_than_days if s3.older_than_days is not None else config.older_than_days
        cutoff = now - timedelta(days=days)
        client = self.platform.s3
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": s3.prefix}
        start_after = s3.start_after or self._previous_resume_key()
        if start_after:
            request["StartAfter"] = start_after
        listed_cap = budget * MAX_LISTED_PER_DELETION
        listed, last_key, doomed, total_bytes, deleted = 0, None, [], 0, 0
        exhausted = False
        while budget > 0 and listed < listed_cap:
            page = client.list_objects_v2(**request, MaxKeys=min(1000, listed_cap - listed))
            for entry in page.get("Contents", []):
                listed += 1
                last_key = entry["Key"]
                if entry["LastModified"] < cutoff:
                    doomed.append(entry["Key"])
                    total_bytes += entry.get("Size", 0)
                    if len(doomed) >= budget:
                        break
            if len(doomed) >= budget:
                break
            if not page.get("IsTruncated"):
                exhausted = True
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
            request.pop("StartAfter", None)
        if not config.dry_run:
            for start in range(0, len(doomed), S3_DELETE_BATCH):
                batch = doomed[start : start + S3_DELETE_BATCH]
                answer = client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
                errors = answer.get("Errors", [])
                deleted += len(batch) - len(errors)
                if errors:
                    self.log(
                        f"{len(errors)} objects were not deleted, e.g. {errors[0].get('Key')}: {errors[0].get('Code')}"
                    )
                self.update_progress(50 + 50 * (start + len(batch)) / max(len(doomed), 1))
        return {
            "s3_bucket": bucket,
            "s3_prefix": s3.prefix,
            "s3_listed": listed,
            "s3_deleted": len(doomed) if config.dry_run else deleted,
            "s3_bytes": total_bytes,
            "s3_resume_after": None if exhausted else last_key,
        }

    def _previous_resume_key(self) -> str | None:
        """Where the last completed run of this cron job stopped in the bucket, if it stopped early."""
        if not self.job.cron_job_id:
            return None
        page = self.platform.store.list(JobFilter(cron_job_id=self.job.cron_job_id), limit=10, next_token=None)
        for run in page.jobs:
            if run.id != self.job.id and run.status == JobStatus.COMPLETED and isinstance(run.result, dict):
                key = run.result.get("s3_resume_after")
                return str(key) if key else None
        return None
