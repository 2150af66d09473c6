"""DynamoDB repository for cron jobs, with the sparse index the tick reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import Listing, is_condition_failure, read_pages
from chalicelib.crons.model import CronJob, cron_from_item, cron_to_item
from chalicelib.errors import StaleWriteError
from chalicelib.partitions import stable_shard

# Sparse: only active cron jobs carry ``due_shard``, so the tick's query reads the jobs that
# are due and nothing else, however many paused or finished ones are stored. Sharded by the cron
# job's id: every advance of next_run_at writes the index, and one partition key takes about
# 1,000 writes/s, so a burst of slots in one minute is spread over DUE_SHARDS keys (docs/crons.md).
DUE_INDEX = "due"
BY_STORE_INDEX = "by_store"
DUE_SHARDS = 16
# The one key every active cron job carried before the index was sharded: still read, and an
# item leaves it for its own shard at its next advance.
LEGACY_DUE_SHARD = "active"


def due_shard(cron_id: str) -> str:
    """The due index's partition key for ``cron_id``, for life."""
    return f"{stable_shard(cron_id, DUE_SHARDS):02d}"


DUE_SHARD_KEYS = (*(f"{n:02d}" for n in range(DUE_SHARDS)), LEGACY_DUE_SHARD)


class CronExistsError(StaleWriteError):
    """Raised when a cron job with that id is already stored."""

    code = "cron_job_exists"


def cron_table_definition(table_name: str) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "due_shard", "AttributeType": "S"},
            {"AttributeName": "next_run_at", "AttributeType": "S"},
            {"AttributeName": "store_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": "due_shard", "KeyType": "HASH"},
                    {"AttributeName": "next_run_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_STORE_INDEX,
                "KeySchema": [
                    {"AttributeName": "store_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }


CRON_TABLE_SHAPE = cron_table_definition("cron-jobs")


def _item(cron: CronJob) -> dict[str, Any]:
    item = cron_to_item(cron)
    if cron.is_active and cron.next_run_at:
        item["due_shard"] = due_shard(cron.id)
    return item


@dataclass(frozen=True)
class CronFilter:
    """What a listing keeps besides its store: each field given must match."""

    plugin_id: str | None = None
    job_type: str | None = None
    is_active: bool | None = None

    def condition(self) -> ConditionBase | None:
        parts = [Attr(name).eq(value) for name, value in vars(self).items() if value is not None]
        condition: ConditionBase | None = None
        for part in parts:
            condition = part if condition is None else condition & part
        return condition


@dataclass(frozen=True)
class CronPage:
    crons: list[CronJob]
    next_token: str | None


class DynamoCronStore:
    def __init__(self, table: Any, *, jobs_table_name: str) -> None:
        self._table = table
        # Where a run's outcome is marked counted, in the same transaction as the count.
        self._jobs_table_name = jobs_table_name

    def get(self, cron_id: str) -> CronJob | None:
        item = self._table.get_item(Key={"id": cron_id}, ConsistentRead=True).get("Item")
        return cron_from_item(item) if item else None

    def create(self, cron: CronJob) -> CronJob:
        # attribute_not_exists: a plugin declaring its cron on every start creates it once.
        try:
            self._table.put_item(Item=_item(cron), ConditionExpression=Attr("id").not_exists())
        except ClientError as exc:
            if is_condition_failure(exc):
                raise CronExistsError(f"Cron job {cron.id} already exists.") from exc
            raise
        return cron

    def replace(self, cron: CronJob, *, expected_version: int) -> CronJob:
        """Write the whole definition if nobody changed it since it was read (PUT, PATCH, pause).

        Sound because every write to a cron job bumps ``version`` (advance, record_outcome,
        pause_after_failures): a stale read loses here and is read again.
        """
        try:
            self._table.put_item(Item=_item(cron), ConditionExpression=Attr("version").eq(expected_version))
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleWriteError(f"Cron job {cron.id} changed meanwhile; read it and try again.") from exc
            raise
        return cron

    def delete(self, cron: CronJob) -> None:
        try:
            self._table.delete_item(Key={"id": cron.id}, ConditionExpression=Attr("version").eq(cron.version))
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleWriteError(f"Cron job {cron.id} changed meanwhile; read it and try again.") from exc
            raise

    def count_for_store(self, store_id: str, *, at_least: int) -> int:
        """Cron jobs in a store, counting no further than ``at_least`` (the quota check's need)."""
        request: dict[str, Any] = {
            "IndexName": BY_STORE_INDEX,
            "KeyConditionExpression": Key("store_id").eq(store_id),
            "Select": "COUNT",
        }
        total = 0
        while total < at_least:
            page = self._table.query(**request)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return total

    def due(self, shard: str, horizon: str) -> Iterator[list[CronJob]]:
        """Pages of the active cron jobs of ``shard`` whose next slot is at or before ``horizon``,
        soonest first; read page by page, so a caller with no time left stops reading."""
        request: dict[str, Any] = {
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": Key("due_shard").eq(shard) & Key("next_run_at").lte(horizon),
        }
        while True:
            page = self._table.query(**request)
            yield [cron_from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_for_store(self, store_id: str, wanted: CronFilter, *, limit: int, next_token: str | None) -> CronPage:
        request: dict[str, Any] = {
            "IndexName": BY_STORE_INDEX,
            "KeyConditionExpression": Key("store_id").eq(store_id),
            "ScanIndexForward": False,
        }
        return self._page(self._table.query, request, limit=limit, next_token=next_token, condition=wanted.condition())

    def list_all(self, wanted: CronFilter, *, limit: int, next_token: str | None) -> CronPage:
        return self._page(self._table.scan, {}, limit=limit, next_token=next_token, condition=wanted.condition())

    @staticmethod
    def _page(
        call: Any, request: dict[str, Any], *, limit: int, next_token: str | None, condition: ConditionBase | None
    ) -> CronPage:
        if condition is not None:
            request["FilterExpression"] = condition
        listing = Listing.of(CRON_TABLE_SHAPE, request)
        items, last_key = read_pages(call, request, limit=limit, start_key=listing.decode(next_token), max_pages=10)
        return CronPage(crons=[cron_from_item(item) for item in items], next_token=listing.encode(last_key))

    def advance(
        self,
        cron: CronJob,
        *,
        next_run_at: str | None,
        now: str,
        fired: int,
        skipped: int,
        current_job_id: str | None,
        deactivate_reason: str | None,
    ) -> CronJob:
        """Move ``next_run_at`` past the slots a tick handled.

        Race prevented: two ticks (overlapping, repeated, or a late one) read the same
        next_run_at; the condition lets only the first move it, so no slot is handled twice.
        """
        names = {"#n": "next_run_at", "#u": "updated_at", "#r": "run_count", "#s": "skipped_count", "#v": "version"}
        values: dict[str, Any] = {":u": now, ":f": fired, ":s": skipped, ":one": 1, ":old": cron.next_run_at}
        sets = ["#u = :u", "#r = #r + :f", "#s = #s + :s", "#v = #v + :one"]
        removes = []
        if next_run_at is not None and deactivate_reason is None:
            names["#d"] = "due_shard"
            values[":n"] = next_run_at
            values[":shard"] = due_shard(cron.id)
            sets += ["#n = :n", "#d = :shard"]
        else:
            names["#d"] = "due_shard"
            names["#a"] = "is_active"
            names["#p"] = "paused_reason"
            values[":false"] = False
            values[":reason"] = deactivate_reason or "the schedule has no further slots"
            sets += ["#a = :false", "#p = :reason"]
            removes += ["#d", "#n"]
        if current_job_id is not None:
            names["#c"] = "current_job_id"
            values[":c"] = current_job_id
            sets.append("#c = :c")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            answer = self._table.update_item(
                Key={"id": cron.id},
                UpdateExpression=expression,
                ConditionExpression="#n = :old",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleWriteError(f"Cron job {cron.id} was advanced by another tick.") from exc
            raise
        return cron_from_item(answer["Attributes"])

    def record_outcome(
        self, cron_id: str, *, job_id: str, status: str, error: str | None, finished_at: str, succeeded: bool | None
    ) -> CronJob | None:
        """Count a finished run (``succeeded`` None: a cancelled run, counted nowhere).

        ADD is commutative, so runs finishing at the same moment never lose a count. The version
        goes up too: a PUT, PATCH or pause that read the job before this write must re-read it,
        or its whole-item write would put the counts (and an auto-pause) back as they were.

        Exactly once per run: the count and the run's ``outcome_recorded`` mark are one
        transaction, conditioned on the mark being absent. A worker killed between the run's
        final write and this one leaves the mark absent, and the redelivered message counts it;
        counted already, a repeat changes nothing and answers None.

        The same write stops naming the run as the cron job's current one when it still is (a
        newer run may have become current meanwhile; then the count is written without that).
        Answers the cron job as counted only after a failed run, the one outcome that can pause
        it (one consistent read); a success or a skip answers None, saving that read.
        """
        names = {"#ls": "last_status", "#lr": "last_run_at", "#lj": "last_job_id", "#u": "updated_at", "#v": "version"}
        values: dict[str, Any] = {":ls": status, ":lr": finished_at, ":lj": job_id, ":u": finished_at, ":one": 1}
        sets = ["#ls = :ls", "#lr = :lr", "#lj = :lj", "#u = :u"]
        adds: list[str] = ["#v :one"]
        if succeeded:
            names.update({"#sc": "success_count", "#cf": "consecutive_failures"})
            values[":zero"] = 0
            adds.append("#sc :one")
            sets.append("#cf = :zero")
        elif succeeded is False:
            names.update({"#fc": "failure_count", "#cf": "consecutive_failures"})
            adds += ["#fc :one", "#cf :one"]
        if status in ("skipped", "expired"):  # an expired run did not run either
            names["#sk"] = "skipped_count"
            adds.append("#sk :one")
        if error:
            names["#le"] = "last_error"
            values[":le"] = error[:2000]
            sets.append("#le = :le")
        expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
        count = {
            "TableName": self._table.name,
            "Key": {"id": cron_id},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(id)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        clearing = {
            **count,
            "UpdateExpression": expression + " REMOVE #cur",
            "ConditionExpression": "#cur = :job",
            "ExpressionAttributeNames": {**names, "#cur": "current_job_id"},
            "ExpressionAttributeValues": {**values, ":job": job_id},
        }
        counted = self._count_once(clearing, job_id, clears_current=True)
        if counted is None:  # no longer the current run, or the cron job is gone
            counted = self._count_once(count, job_id, clears_current=False)
        if not counted or succeeded is not False:
            return None
        return self.get(cron_id)

    def _count_once(self, count: dict[str, Any], job_id: str, *, clears_current: bool) -> bool | None:
        """True if counted now, False if counted before (or the cron job is gone: the run is then
        marked counted). None when ``clears_current`` and the run is not the current one: nothing
        was written."""
        mark = {
            "TableName": self._jobs_table_name,
            "Key": {"id": job_id},
            "UpdateExpression": "SET outcome_recorded = :true",
            "ConditionExpression": "attribute_exists(id) AND (attribute_not_exists(outcome_recorded) "
            "OR outcome_recorded = :false)",
            "ExpressionAttributeValues": {":true": True, ":false": False},
        }
        # The resource's own client takes plain values (boto3 types them), as the table does.
        client = self._table.meta.client
        try:
            client.transact_write_items(TransactItems=[{"Update": count}, {"Update": mark}])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return False  # counted before (a redelivery), or the run is gone
            if reasons and reasons[0] == "ConditionalCheckFailed":
                if clears_current:
                    return None
                # The cron job was deleted: its runs stay as jobs, counted nowhere, marked done.
                with contextlib.suppress(ClientError):
                    client.update_item(**mark)
                return False
            raise
        return True

    def pause_after_failures(self, cron: CronJob, reason: str, now: str) -> None:
        """Auto-pause, only if the failure streak that triggered it is still the stored one.

        Bumps the version: a PATCH that read the job active must not write it active again.
        """
        try:
            self._table.update_item(
                Key={"id": cron.id},
                UpdateExpression="SET is_active = :false, paused_reason = :r, updated_at = :u, "
                "version = version + :one REMOVE due_shard",
                ConditionExpression=Attr("consecutive_failures").gte(cron.max_failures or 0)
                & Attr("is_active").eq(True),
                ExpressionAttributeValues={":false": False, ":r": reason, ":u": now, ":one": 1},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
