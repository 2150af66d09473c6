"""One store's jobs, for its erasure: read oldest first a page at a time through ``by_store``,
and deleted whole (the item, its log item and every object under its S3 prefix).

The pass keeps its place (the last key read), because jobs it cannot delete yet (running ones)
stay in the index and would otherwise fill every page. A delete is conditional on the finished
status it was read in: a job retried meanwhile (failed -> pending) is not deleted under an
attempt that may run it, and the caller looks at it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.logs import logs_item_id
from chalicelib.jobs.store import BY_STORE_INDEX, DynamoJobStore


@dataclass(frozen=True)
class StoreJobsPage:
    """A page of (job id, status as the index showed it); ``after`` resumes the pass, None at its end."""

    jobs: list[tuple[str, JobStatus]]
    after: dict[str, str] | None


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
            "ProjectionExpression": "id, #st",
            "ExpressionAttributeNames": {"#st": "status"},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = after
        answer = self._table.query(**request)
        jobs = [(str(item["id"]), JobStatus(item["status"])) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return StoreJobsPage(jobs=jobs, after={name: str(value) for name, value in last.items()} if last else None)

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
