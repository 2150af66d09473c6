"""Old finished jobs in the jobs table: found oldest first through the status index, deleted one by one.

The status index is sharded (shards.py): every shard of the status is queried, oldest first,
and the answers merged by ``created_at``.

Each delete is conditional on the status it was found in, so a job that a user retried between
the query and the delete (failed -> pending) is left alone.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure, sweep_pages
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import VALUE_FIELDS, ref_attribute
from chalicelib.jobs.shards import SHARD_ATTRIBUTE, shard_keys
from chalicelib.jobs.store import BY_STATUS_INDEX, SWEEP_PAGES_PER_SHARD, DynamoJobStore

KEPT_APART = tuple(ref_attribute(field) for field in VALUE_FIELDS)


class FinishedJobs:
    def __init__(self, table: Any, store: DynamoJobStore) -> None:
        self._table = table
        self._store = store

    def older_than(
        self, status: JobStatus, cutoff: str, *, limit: int, store_id: str | None = None
    ) -> list[dict[str, str]]:
        """Up to ``limit`` jobs in ``status`` created and last changed before ``cutoff``, oldest first."""
        filters = Attr("updated_at").lt(cutoff)
        if store_id is not None:
            filters = filters & Attr("store_id").eq(store_id)
        requests: list[dict[str, Any]] = [
            {
                "IndexName": BY_STATUS_INDEX,
                "KeyConditionExpression": Key(SHARD_ATTRIBUTE).eq(key) & Key("created_at").lt(cutoff),
                "FilterExpression": filters,
                # What delete needs to know: whether the job keeps lines or values apart.
                "ProjectionExpression": f"id, created_at, store_id, log_lines, {', '.join(KEPT_APART)}",
                "ScanIndexForward": True,
            }
            for key in shard_keys(status.value)
        ]
        found = DynamoJobStore.each_shard(
            requests,
            lambda request: sweep_pages(self._table.query, request, limit=limit, max_pages=SWEEP_PAGES_PER_SHARD),
        )
        oldest = sorted((item for items in found for item in items), key=lambda item: (item["created_at"], item["id"]))
        return oldest[:limit]

    def delete(self, found: dict[str, Any], status: JobStatus) -> bool:
        """True if deleted, with its log lines and S3 objects; False if the job changed status (or
        went) since it was found. Those go after the job: a crash between leaves them to the log
        item's expiry and the bucket's lifecycle rule, never a job pointing at nothing."""
        job_id = found["id"]
        try:
            self._table.delete_item(
                Key={"id": job_id},
                ConditionExpression=Attr("status").eq(status.value),
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        if found.get("log_lines"):
            self._store.logs.delete(job_id)
        if any(found.get(name) for name in KEPT_APART):
            self._store.values.delete(job_id)
        return True
