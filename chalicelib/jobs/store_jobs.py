"""One store's jobs, for its erasure: read oldest first a page at a time through ``by_store``,
and deleted whole (the item, its log item and every object under its S3 prefix).

The pass keeps its place (the last key read), because jobs it cannot delete yet (running ones)
stay in the index and would otherwise fill every page. A delete is conditional on the finished
status it was read in: a job retried meanwhile (failed -> pending) is not deleted under an
attempt that may run it, and the caller looks at it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure
from chalicelib.batches.model import ITEM_PREFIX as BATCH_ITEM_PREFIX
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.logs import logs_item_id
from chalicelib.jobs.store import BY_STORE_INDEX, DynamoJobStore
from chalicelib.jobs.windows import window_item_ids


@dataclass(frozen=True)
class StoreJobsPage:
    """A page of (job id, status as the index showed it); ``after`` resumes the pass, None at its end.

    ``companions``: per job, the items kept apart that exist for it (its debounce or dedup
    window's item, which may name it) and its batch's id, to delete with it.
    """

    jobs: list[tuple[str, JobStatus]]
    after: dict[str, str] | None
    windows: dict[str, list[str]] = field(default_factory=dict)
    batches: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deleted:
    """What one job's delete removed: the item, whether a log item, how many objects."""

    job: bool
    log_item: bool = False
    objects: int = 0


class StoreJobs:
    def __init__(self, table: Any, store: DynamoJobStore) -> None:
        self._table = table
        self._store = store

    def page(self, store_id: str, *, after: dict[str, str] | None, limit: int) -> StoreJobsPage:
        request: dict[str, Any] = {
            "IndexName": BY_STORE_INDEX,
            "KeyConditionExpression": Key("store_id").eq(store_id),
            "ProjectionExpression": "id, #st, #ty, plugin_id, batch_id, debounce_key, dedup_key",
            "ExpressionAttributeNames": {"#st": "status", "#ty": "type"},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = after
        answer = self._table.query(**request)
        items = answer.get("Items", [])
        jobs = [(str(item["id"]), JobStatus(item["status"])) for item in items]
        windows = {
            str(item["id"]): window_item_ids(
                store_id,
                item.get("plugin_id"),
                str(item.get("type", "")),
                debounce_key=item.get("debounce_key"),
                dedup_key=item.get("dedup_key"),
            )
            for item in items
            if item.get("debounce_key") or item.get("dedup_key")
        }
        batches = {str(item["id"]): str(item["batch_id"]) for item in items if item.get("batch_id")}
        last = answer.get("LastEvaluatedKey")
        after = {name: str(value) for name, value in last.items()} if last else None
        return StoreJobsPage(jobs=jobs, after=after, windows=windows, batches=batches)

    def delete_window_item(self, item_id: str, job_id: str) -> bool:
        """A debounce or dedup window's item, if it still names ``job_id`` (a newer window's stays)."""
        return self._delete_if(item_id, Attr("job_id").eq(job_id))

    def delete_batch_item(self, batch_id: str) -> bool:
        """A batch's own item (its children are gone): its description and callbacks' payloads."""
        return self._delete_if(f"{BATCH_ITEM_PREFIX}{batch_id}", Attr("kind").eq("batch"))

    def _delete_if(self, item_id: str, condition: Any) -> bool:
        try:
            self._table.delete_item(Key={"id": item_id}, ConditionExpression=condition)
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def delete(self, job_id: str, status: JobStatus) -> Deleted:
        """The job's log item and objects, then the job, if still in ``status`` (a finished one).

        In that order, so that a crash anywhere leaves the job's item, which the next run finds
        and deletes again with all it keeps apart; the other order would leave lines and objects
        no index can find. The cost falls on a job retried between the read and the delete: it
        is kept, without its values, and fails when it runs; during its store's erasure, that is
        the point. The log item and every object under the job's prefix go whatever the item
        said: an attempt that lost its lease may have left some the item does not name.
        """
        log_item = self._delete_log_item(job_id)
        objects = self._store.values.delete(job_id)
        try:
            self._table.delete_item(Key={"id": job_id}, ConditionExpression=Attr("status").eq(status.value))
        except ClientError as exc:
            if is_condition_failure(exc):
                return Deleted(job=False, log_item=log_item, objects=objects)
            raise
        return Deleted(job=True, log_item=log_item, objects=objects)

    def _delete_log_item(self, job_id: str) -> bool:
        # Conditional on its being there, so the report counts only what was deleted.
        try:
            self._table.delete_item(Key={"id": logs_item_id(job_id)}, ConditionExpression=Attr("id").exists())
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
