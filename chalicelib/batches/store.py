"""DynamoDB repository for batches: one item per batch in the jobs table, and the children's marks.

A batch's item is ``batch#<id>``. It carries no ``store_id``, ``status_shard`` or ``cron_job_id``,
so no job index holds it; while it is unfinished (or its callbacks are not yet queued) its
``batch_id`` attribute is one of UNFINISHED_SHARDS keys of the by_batch index, where the tick's
sweep finds it. Its children carry ``batch_id`` = the batch's id, the same index's other keys.
"""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import Listing, is_condition_failure, read_pages
from chalicelib.batches.model import (
    ITEM_PREFIX,
    Batch,
    BatchState,
    CallbackRequest,
    LiveCounts,
    unfinished_key,
)
from chalicelib.errors import StaleWriteError
from chalicelib.jobs.lifecycle import TERMINAL_STATUSES, JobStatus
from chalicelib.jobs.model import Job, job_from_item
from chalicelib.jobs.store import BY_BATCH_INDEX, BY_BATCH_STORE_INDEX, JOBS_TABLE_SHAPE, MAX_PAGES_PER_LIST
from chalicelib.rights import Rights

# Keys to one BatchGetItem, and the rounds it gets to read what DynamoDB left unprocessed.
BATCH_GET_KEYS = 100
BATCH_GET_ROUNDS = 5
# The counters a child's end adds to, by its final status.
COUNTER = {
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
    JobStatus.EXPIRED: "expired",
}


class BatchExistsError(StaleWriteError):
    code = "batch_exists"


def item_key(batch_id: str) -> dict[str, str]:
    return {"id": f"{ITEM_PREFIX}{batch_id}"}


def batch_to_item(batch: Batch) -> dict[str, Any]:
    item: dict[str, Any] = {
        **item_key(batch.id),
        "kind": "batch",
        "batch_store": batch.store_id,
        "state": batch.state.value,
        "total": batch.total,
        "completed": batch.completed,
        "failed": batch.failed,
        "cancelled": batch.cancelled,
        "expired": batch.expired,
        "created_at": batch.created_at,
        "updated_at": batch.updated_at,
        "created_by": batch.created_by,
        "rights": batch.rights.model_dump_json(),
        "batch_id": unfinished_key(batch.id),
    }
    optional = {
        "batch_plugin": batch.plugin_id,
        "description": batch.description,
        "on_complete": batch.on_complete.model_dump_json() if batch.on_complete else None,
        "on_success": batch.on_success.model_dump_json() if batch.on_success else None,
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


def batch_from_item(item: dict[str, Any]) -> Batch:
    def callback(name: str) -> CallbackRequest | None:
        raw = item.get(name)
        return CallbackRequest.model_validate(json.loads(raw)) if raw else None

    return Batch(
        id=str(item["id"]).removeprefix(ITEM_PREFIX),
        store_id=item["batch_store"],
        plugin_id=item.get("batch_plugin"),
        state=BatchState(item["state"]),
        total=int(item["total"]),
        completed=int(item.get("completed", 0)),
        failed=int(item.get("failed", 0)),
        cancelled=int(item.get("cancelled", 0)),
        expired=int(item.get("expired", 0)),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        created_by=item["created_by"],
        rights=Rights.model_validate_json(item["rights"]),
        description=item.get("description"),
        on_complete=callback("on_complete"),
        on_success=callback("on_success"),
        finished_at=item.get("finished_at"),
        callbacks_sent=bool(item.get("callbacks_sent", False)),
        note=item.get("note"),
    )


class DynamoBatchStore:
    """Batches in the jobs table. Every change of state is conditional on the state it leaves."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, batch: Batch) -> None:
        """Store a new batch (``creating``); BatchExistsError if its id is taken (a repeated key)."""
        try:
            self._table.put_item(Item=batch_to_item(batch), ConditionExpression=Attr("id").not_exists())
        except ClientError as exc:
            if is_condition_failure(exc):
                raise BatchExistsError(f"Batch {batch.id} already exists.") from exc
            raise

    def get(self, batch_id: str) -> Batch | None:
        item = self._table.get_item(Key=item_key(batch_id), ConsistentRead=True).get("Item")
        if not item or item.get("kind") != "batch":
            return None
        return batch_from_item(item)

    def listed(
        self, store_id: str, *, state: BatchState | None, plugin_id: str | None, limit: int, next_token: str | None
    ) -> tuple[list[Batch], str | None]:
        """A page of a store's batches, newest first (the by_batch_store index), with the token to resume.

        The index holds only the keys, ``state`` and ``batch_plugin`` (what the filters need); the
        page's items are then read whole, in one BatchGetItem.
        """
        request: dict[str, Any] = {
            "IndexName": BY_BATCH_STORE_INDEX,
            "KeyConditionExpression": Key("batch_store").eq(store_id),
            "ScanIndexForward": False,
        }
        filters = [Attr("state").eq(state.value)] if state is not None else []
        if plugin_id is not None:
            filters.append(Attr("batch_plugin").eq(plugin_id))
        if filters:
            expression = filters[0]
            for condition in filters[1:]:
                expression = expression & condition
            request["FilterExpression"] = expression
        listing = Listing.of(JOBS_TABLE_SHAPE, request)
        keys, last_key = read_pages(
            self._table.query, request, limit=limit, start_key=listing.decode(next_token), max_pages=MAX_PAGES_PER_LIST
        )
        ids = [str(key["id"]).removeprefix(ITEM_PREFIX) for key in keys]
        found = self.get_many(ids)
        # An item gone between the two reads (its TTL ran out) is left out of the page.
        return [found[batch_id] for batch_id in ids if batch_id in found], listing.encode(last_key)

    def get_many(self, batch_ids: list[str]) -> dict[str, Batch]:
        """Batches by id (eventually consistent, as the index that named them), BATCH_GET_KEYS a call."""
        found: dict[str, Batch] = {}
        client = self._table.meta.client
        for start in range(0, len(batch_ids), BATCH_GET_KEYS):
            keys: list[dict[str, Any]] = [item_key(batch_id) for batch_id in batch_ids[start : start + BATCH_GET_KEYS]]
            for _ in range(BATCH_GET_ROUNDS):
                answer = client.batch_get_item(RequestItems={self._table.name: {"Keys": keys}})
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    if item.get("kind") == "batch":
                        batch = batch_from_item(item)
                        found[batch.id] = batch
                keys = answer.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise RuntimeError(f"{len(keys)} batches unread after {BATCH_GET_ROUNDS} rounds")
        return found

    def open(self, batch: Batch, *, now: str, total: int | None = None, note: str | None = None) -> Batch:
        """``creating`` -> ``open``: every child is stored and sent (``total``: fewer than asked, when a
        sweep settles a creation cut short with the children that were stored)."""
        names = {"#s": "state", "#u": "updated_at"}
        values: dict[str, Any] = {":open": BatchState.OPEN.value, ":creating": BatchState.CREATING.value, ":u": now}
        sets = ["#s = :open", "#u = :u"]
        if total is not None:
            names["#t"] = "total"
            values[":t"] = total
            sets.append("#t = :t")
        if note is not None:
            names["#n"] = "note"
            values[":n"] = note
            sets.append("#n = :n")
        return self._changed(batch.id, "SET " + ", ".join(sets), "#s = :creating", names, values)

    def finish(self, batch: Batch, *, now: str) -> Batch:
        """``open`` -> ``succeeded`` or ``finished`` once every child's end is counted: the one write
        that ends a batch, which exactly one caller wins (the rest find it final)."""
        state = batch.final_state()
        condition = "#s = :open AND #t = :t AND #c = :c AND #f = :f AND #x = :x AND #e = :e"
        names = {"#s": "state", "#t": "total", "#c": "completed", "#f": "failed", "#x": "cancelled", "#u": "updated_at"}
        names["#e"] = "expired"
        names["#fa"] = "finished_at"
        values = {
            ":open": BatchState.OPEN.value,
            ":final": state.value,
            ":t": batch.total,
            ":c": batch.completed,
            ":f": batch.failed,
            ":x": batch.cancelled,
            ":e": batch.expired,
            ":u": now,
        }
        return self._changed(batch.id, "SET #s = :final, #u = :u, #fa = :u", condition, names, values)

    def callbacks_sent(self, batch: Batch, *, now: str, expires_at: int | None) -> Batch:
        """Its callbacks are queued: the sweep's key goes, and the TTL of a finished job comes."""
        names = {"#s": "state", "#cs": "callbacks_sent", "#u": "updated_at", "#b": "batch_id"}
        values: dict[str, Any] = {
            ":true": True,
            ":u": now,
            ":a": BatchState.SUCCEEDED.value,
            ":b": BatchState.FINISHED.value,
        }
        sets = ["#cs = :true", "#u = :u"]
        if expires_at is not None:
            names["#e"] = "expires_at"
            values[":e"] = expires_at
            sets.append("#e = :e")
        expression = "SET " + ", ".join(sets) + " REMOVE #b"
        return self._changed(batch.id, expression, "#s IN (:a, :b)", names, values)

    def touch(self, batch: Batch, *, now: str) -> None:
        """Push an open batch's ``updated_at`` on, so the sweep looks at it again only later."""
        try:
            self._table.update_item(
                Key=item_key(batch.id),
                UpdateExpression="SET updated_at = :u",
                ConditionExpression="#s = :open",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":u": now, ":open": BatchState.OPEN.value},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def _changed(
        self, batch_id: str, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> Batch:
        try:
            answer = self._table.update_item(
                Key=item_key(batch_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleWriteError(f"Batch {batch_id} changed meanwhile.") from exc
            raise
        return batch_from_item(answer["Attributes"])

    def count(self, job: Job) -> bool:
        """Count a child's end on its batch, exactly once: the batch's ADD and the child's
        ``batch_counted`` mark are one transaction, conditioned on the mark being absent and the
        child still in the final status it was read in. False: counted before (or not countable)."""
        counter = COUNTER.get(job.status)
        if counter is None or job.batch_id is None:
            return False
        client = self._table.meta.client
        mark = {
            "TableName": self._table.name,
            "Key": {"id": job.id},
            "UpdateExpression": "SET batch_counted = :true",
            "ConditionExpression": "attribute_exists(id) AND #st = :st AND "
            "(attribute_not_exists(batch_counted) OR batch_counted = :false)",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {":true": True, ":false": False, ":st": job.status.value},
        }
        add = {
            "TableName": self._table.name,
            "Key": item_key(job.batch_id),
            "UpdateExpression": "ADD #n :one SET updated_at = :u",
            "ConditionExpression": "attribute_exists(id)",
            "ExpressionAttributeNames": {"#n": counter},
            "ExpressionAttributeValues": {":one": 1, ":u": job.updated_at},
        }
        try:
            client.transact_write_items(TransactItems=[{"Update": mark}, {"Update": add}])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    # --- children ------------------------------------------------------------------------

    def children(
        self, batch_id: str, *, status: JobStatus | None, limit: int, next_token: str | None
    ) -> tuple[list[Job], str | None]:
        """A page of the batch's children (the by_batch index), with the token to resume."""
        request: dict[str, Any] = {
            "IndexName": BY_BATCH_INDEX,
            "KeyConditionExpression": Key("batch_id").eq(batch_id),
        }
        if status is not None:
            request["FilterExpression"] = Attr("status").eq(status.value)
        listing = Listing.of(JOBS_TABLE_SHAPE, request)
        items, last_key = read_pages(
            self._table.query, request, limit=limit, start_key=listing.decode(next_token), max_pages=MAX_PAGES_PER_LIST
        )
        return [job_from_item(item) for item in items], listing.encode(last_key)

    def all_children(self, batch_id: str) -> list[Job]:
        """Every child (at most MAX_CHILDREN: a few pages)."""
        request: dict[str, Any] = {"IndexName": BY_BATCH_INDEX, "KeyConditionExpression": Key("batch_id").eq(batch_id)}
        found: list[Job] = []
        while True:
            page = self._table.query(**request)
            found += [job_from_item(item) for item in page.get("Items", []) if "type" in item]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def live(self, batch_id: str) -> LiveCounts:
        """The unfinished children's counts and progress (an ended child not yet counted weighs 100):
        the index's status, progress and mark only."""
        request: dict[str, Any] = {
            "IndexName": BY_BATCH_INDEX,
            "KeyConditionExpression": Key("batch_id").eq(batch_id),
            "ProjectionExpression": "#st, progress, batch_counted",
            "ExpressionAttributeNames": {"#st": "status"},
        }
        pending = running = progress_sum = 0
        terminal = {s.value for s in TERMINAL_STATUSES}
        while True:
            page = self._table.query(**request)
            for item in page.get("Items", []):
                status = item.get("status")
                if status in terminal:
                    # Ended, its count on the batch not yet written: it weighs 100 already.
                    progress_sum += 0 if item.get("batch_counted") else 100
                    continue
                if status in (JobStatus.RUNNING.value, JobStatus.CANCELLING.value):
                    running += 1
                else:
                    pending += 1
                progress_sum += int(item.get("progress", 0))
            if "LastEvaluatedKey" not in page:
                return LiveCounts(pending=pending, running=running, progress_sum=progress_sum)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unfinished(self, key: str, *, updated_before: str, limit: int) -> list[Batch]:
        """Batches under one sweep key last changed before ``updated_before`` (at most ``limit``)."""
        request: dict[str, Any] = {
            "IndexName": BY_BATCH_INDEX,
            "KeyConditionExpression": Key("batch_id").eq(key),
            "FilterExpression": Attr("updated_at").lt(updated_before),
        }
        found: list[Batch] = []
        for _ in range(2):
            page = self._table.query(**request)
            found += [batch_from_item(item) for item in page.get("Items", []) if item.get("kind") == "batch"]
            if len(found) >= limit or "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]
