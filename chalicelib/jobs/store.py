"""DynamoDB repository for jobs. Every state change is a conditional write (docs/state-machines.md)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import (
    ConditionFailedWithItemError,
    Listing,
    is_condition_failure,
    old_item,
    read_pages,
    sweep_pages,
)
from chalicelib.clock import from_iso
from chalicelib.errors import BadRequestError, StaleWriteError
from chalicelib.jobs.lifecycle import CLAIMABLE_STATUSES, TERMINAL_STATUSES, JobStatus
from chalicelib.jobs.logs import JobLogs
from chalicelib.jobs.model import VALUE_FIELDS, Job, job_from_item, job_to_item, ref_attribute
from chalicelib.jobs.shards import (
    SHARD_ATTRIBUTE,
    STATUS_SHARDS,
    Position,
    decode_positions,
    encode_positions,
    listing_digest,
    merge_newest_first,
    shard_keys,
    status_shard,
    take_in_turns,
)
from chalicelib.jobs.values import JobValues
from chalicelib.jobs.window_store import DynamoWindowStore
from chalicelib.rights import Rights
from chalicelib.stores.shards import BY_TENANT_SHARD_INDEX, LISTED_ATTRIBUTES, TENANT_SHARD_ATTRIBUTE

logger = logging.getLogger(__name__)

BY_STORE_INDEX = "by_store"  # store_id, created_at: a store's jobs, newest first
# status_shard, created_at: all jobs in one status, over STATUS_SHARDS key values (shards.py);
# admin listing, sweeps, cleanup, counts. Items without status_shard (stored before it) are not in
# it until their next transition or the backfill (backfill_status_shards).
BY_STATUS_INDEX = "by_status_shard"
BY_STORE_STATUS_INDEX = "by_store_status"  # store_id, status: counts for stats
BY_CRON_INDEX = "by_cron"  # cron_job_id, created_at: a cron job's executions (sparse)
# batch_id, created_at: a batch's children, and the unfinished batches' own items under
# "unfinished#<nn>" keys (sparse; chalicelib/batches/store.py).
BY_BATCH_INDEX = "by_batch"
# batch_store, created_at: a store's batches, newest first (sparse: only batch items carry
# batch_store). It projects only what the listing filters on, so a count's update of a batch
# (its counters, updated_at) writes nothing to it; the listing reads the items themselves.
BY_BATCH_STORE_INDEX = "by_batch_store"
# A finished job's expiry in epoch seconds: the table's TTL (deploy/template.py) deletes it
# some time after. A job that runs again (retry) loses it.
TTL_ATTRIBUTE = "expires_at"
DEFAULT_RETENTION_DAYS = 90

# DynamoDB returns at most 1 MB a page; a list call stops after this many pages so one
# request's cost stays bounded even when a filter matches little.
MAX_PAGES_PER_LIST = 10
# Counting jobs by status (the stats the dashboard polls) reads at most this many pages per
# request, whatever the stores hold: three a status for one store. Counting every store reads
# the status index, whose STATUS_SHARDS key values split the same jobs into as many smaller
# queries: its budget is this times STATUS_SHARDS. Past it the counts are lower bounds and say
# so (StatusCounts.exact).
MAX_PAGES_PER_COUNT = 3 * len(JobStatus)
# A merged listing of one status (the admin's): at most this many shard reads per request,
# the first one per shard included.
MAX_SHARD_READS_PER_LIST = 4 * STATUS_SHARDS
# A sweep (the tick's) reads at most this many pages (1 MB each) from each shard of a status:
# each shard holds about 1/STATUS_SHARDS of the status's jobs.
SWEEP_PAGES_PER_SHARD = 2
# Queries over the shards run on at most this many threads.
SHARD_QUERY_THREADS = 8
# DynamoDB refuses an item over 400 KB, attribute names and values together. Large values and log
# lines live elsewhere (values.py, logs.py); what is left (metadata, audit, error) stays far under.
MAX_ITEM_BYTES = 400 * 1024


class JobExistsError(StaleWriteError):
    """Raised when a job with that id is already stored."""

    code = "job_exists"


class ClaimRefusedError(StaleWriteError):
    """Raised when a job is not pending-and-due; ``current`` is the job as it is (None: no such job)."""

    code = "claim_refused"

    def __init__(self, current: Job | None) -> None:
        super().__init__("The job is not claimable now.")
        self.current = current


class CancelAcknowledgedError(StaleWriteError):
    """Raised when an attempt's write finds its job ``cancelling`` under that attempt's own lease.

    The cancel was acknowledged to whoever asked: the attempt may still end, but only as
    cancelled (``finish(CANCELLED)``), never retried, completed or put back to wait.
    """

    code = "cancel_acknowledged"

    def __init__(self, current: Job) -> None:
        super().__init__(f"Job {current.id} is cancelling; its attempt can only end as cancelled.")
        self.current = current


class CompanionRefusedError(StaleWriteError):
    """Raised when the item written in one transaction with a new job failed its condition."""

    code = "companion_refused"


class ItemTooLargeError(Exception):
    """Raised when DynamoDB refuses a write because the job's item would pass MAX_ITEM_BYTES."""


@dataclass(frozen=True)
class JobFilter:
    store_id: str | None = None
    cron_job_id: str | None = None
    status: JobStatus | None = None
    type: str | None = None
    plugin_id: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_token: str | None


@dataclass
class BackfillReport:
    """What ``backfill_status_shards`` did: jobs scanned, keys written, jobs that moved meanwhile."""

    scanned: int = 0
    written: int = 0
    moved: int = 0


@dataclass(frozen=True)
class StatusCounts:
    """Jobs per status; when ``exact`` is False the page budget ran out and each count is a lower bound."""

    counts: dict[str, int]
    exact: bool


def jobs_table_definition(table_name: str) -> dict[str, Any]:
    """The CreateTable request for the jobs table (used by the local stack, tests and packaging)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "store_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": SHARD_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
            {"AttributeName": "cron_job_id", "AttributeType": "S"},
            {"AttributeName": "batch_id", "AttributeType": "S"},
            {"AttributeName": "batch_store", "AttributeType": "S"},
            {"AttributeName": TENANT_SHARD_ATTRIBUTE, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": BY_STORE_INDEX,
                "KeySchema": [
                    {"AttributeName": "store_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": SHARD_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_CRON_INDEX,
                "KeySchema": [
                    {"AttributeName": "cron_job_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_BATCH_INDEX,
                "KeySchema": [
                    {"AttributeName": "batch_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": BY_BATCH_STORE_INDEX,
                "KeySchema": [
                    {"AttributeName": "batch_store", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["state", "batch_plugin"]},
            },
            {
                "IndexName": BY_STORE_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "store_id", "KeyType": "HASH"},
                    {"AttributeName": "status", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                # Sparse: only the stores' slot items (chalicelib/stores/) carry tenant_shard.
                "IndexName": BY_TENANT_SHARD_INDEX,
                "KeySchema": [
                    {"AttributeName": TENANT_SHARD_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": "id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LISTED_ATTRIBUTES)},
            },
        ],
    }


# Key shapes only (the table name does not matter to them).
JOBS_TABLE_SHAPE = jobs_table_definition("jobs")


class DynamoJobStore:
    """Jobs in one DynamoDB table. Methods that change a job name the state they expect."""

    def __init__(
        self,
        table: Any,
        *,
        values: JobValues,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        max_count_pages: int = MAX_PAGES_PER_COUNT,
    ) -> None:
        self._table = table
        self._retention_s = retention_days * 24 * 3600
        self.max_count_pages = max_count_pages
        self.values = values
        self.logs = JobLogs(table, retention_s=self._retention_s)
        self.windows = DynamoWindowStore(table)  # debounce and dedup windows (window_store.py)

    # --- reads -------------------------------------------------------------------------

    def shown(self, jobs: list[Job], *, with_logs: bool = False) -> list[Job]:
        """``jobs`` with what they keep apart read back: values in S3 and, ``with_logs``, their lines."""
        loaded = self.values.load(jobs)
        if with_logs:
            loaded = [job if job.logs_loaded else job.with_values(logs=self.logs.read(job.id)) for job in loaded]
        return loaded

    def get(self, job_id: str) -> Job | None:
        # Strongly consistent: a worker deciding whether to run a job must see the latest write.
        item = self._table.get_item(Key={"id": job_id}, ConsistentRead=True).get("Item")
        return _job_or_none(item)

    def list(self, job_filter: JobFilter, *, limit: int, next_token: str | None) -> JobPage:
        filters = self._filter_expression(job_filter)
        if job_filter.status is not None and (job_filter.store_id, job_filter.cron_job_id, job_filter.batch_id) == (
            None,
            None,
            None,
        ):
            return self._list_status(job_filter, filters, limit=limit, next_token=next_token)
        request: dict[str, Any] = {}
        if filters is not None:
            request["FilterExpression"] = filters
        # The most selective key names the index; the rest are filters (_filter_expression).
        keyed = (
            (BY_BATCH_INDEX, "batch_id", job_filter.batch_id),
            (BY_CRON_INDEX, "cron_job_id", job_filter.cron_job_id),
            (BY_STORE_INDEX, "store_id", job_filter.store_id),
        )
        call = self._table.scan
        for index, attribute, value in keyed:
            if value is not None:
                request.update(IndexName=index, KeyConditionExpression=Key(attribute).eq(value), ScanIndexForward=False)
                call = self._table.query
                break
        if "IndexName" not in request:
            # Rate-limit counters share the table (rate_limit.py); only jobs have a type.
            only_jobs = Attr("type").exists()
            request["FilterExpression"] = only_jobs if filters is None else filters & only_jobs
        listing = Listing.of(JOBS_TABLE_SHAPE, request)
        items, last_key = read_pages(
            call, request, limit=limit, start_key=listing.decode(next_token), max_pages=MAX_PAGES_PER_LIST
        )
        return JobPage(jobs=[job_from_item(item) for item in items], next_token=listing.encode(last_key))

    def _list_status(
        self, job_filter: JobFilter, filters: ConditionBase | None, *, limit: int, next_token: str | None
    ) -> JobPage:
        """One status's jobs, newest first: the status index's shards merged (shards.merge_newest_first).

        The token holds each shard's position; it is tied to this table, status and filters.
        """
        status = job_filter.status.value  # type: ignore[union-attr]
        digest = listing_digest(
            self._table.name, BY_STATUS_INDEX, status, job_filter.type or "", job_filter.plugin_id or ""
        )
        positions = decode_positions(next_token, digest)
        keys = shard_keys(status)
        # Each shard read asks for about twice its share of the page (at least a few items), so
        # a page usually needs one read per shard.
        chunk = min(limit, max(4, 2 * -(-limit // STATUS_SHARDS)))

        def read(shard: int, start: Position) -> tuple[list[dict[str, Any]], Position]:
            request: dict[str, Any] = {
                "IndexName": BY_STATUS_INDEX,
                "KeyConditionExpression": Key(SHARD_ATTRIBUTE).eq(keys[shard]),
                "ScanIndexForward": False,
                "Limit": chunk,
            }
            if filters is not None:
                request["FilterExpression"] = filters
            if start is not None:
                created_at, job_id = start
                request["ExclusiveStartKey"] = {"id": job_id, SHARD_ATTRIBUTE: keys[shard], "created_at": created_at}
            try:
                page = self._table.query(**request)
            except ClientError as exc:
                if start is not None and exc.response.get("Error", {}).get("Code") == "ValidationException":
                    raise BadRequestError(
                        "next_token does not resume this listing.", code="invalid_next_token"
                    ) from exc
                raise
            last = page.get("LastEvaluatedKey")
            return page.get("Items", []), None if not last else (str(last["created_at"]), str(last["id"]))

        items, resume = merge_newest_first(
            lambda requests: self.each_shard(requests, lambda r: read(*r)),
            positions,
            limit=limit,
            max_fetches=MAX_SHARD_READS_PER_LIST,
        )
        return JobPage(jobs=[job_from_item(item) for item in items], next_token=encode_positions(resume, digest))

    @staticmethod
    def each_shard(requests: list[Any], call: Callable[[Any], Any]) -> list[Any]:
        """``call`` on each request, on a few threads when there are several; answers in order."""
        if len(requests) <= 1:
            return [call(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(SHARD_QUERY_THREADS, len(requests))) as pool:
            return list(pool.map(call, requests))

    @staticmethod
    def _filter_expression(job_filter: JobFilter) -> ConditionBase | None:
        parts: list[ConditionBase] = []
        # Without a store, cron or batch the status is the index key (see list): no filter needed.
        if job_filter.status is not None and (job_filter.store_id or job_filter.cron_job_id or job_filter.batch_id):
            parts.append(Attr("status").eq(job_filter.status.value))
        if (job_filter.cron_job_id or job_filter.batch_id) is not None and job_filter.store_id is not None:
            parts.append(Attr("store_id").eq(job_filter.store_id))
        if job_filter.type is not None:
            parts.append(Attr("type").eq(job_filter.type))
        elif job_filter.batch_id is not None:
            parts.append(Attr("type").exists())  # by_batch also holds unfinished batches' own items
        if job_filter.plugin_id is not None:
            parts.append(Attr("plugin_id").eq(job_filter.plugin_id))
        condition: ConditionBase | None = None
        for part in parts:
            condition = part if condition is None else condition & part
        return condition

    def expired_leases(self, before: str, *, limit: int) -> list[Job]:
        """Running or cancelling jobs whose lease ended before ``before`` (the tick's sweep)."""
        return self._sweep((JobStatus.RUNNING, JobStatus.CANCELLING), Attr("lease_until").lt(before), limit=limit)

    def overdue_unclaimed(self, before: str, *, priorities: list[str], limit: int) -> list[Job]:
        """Pending or retrying jobs of ``priorities`` that were due before ``before`` (the tick's sweep)."""
        due = Attr("scheduled_at").lt(before) & (
            Attr("next_attempt_at").not_exists() | Attr("next_attempt_at").lt(before)
        )
        return self._sweep(
            (JobStatus.PENDING, JobStatus.RETRYING), due & Attr("priority").is_in(priorities), limit=limit
        )

    def _sweep(self, statuses: tuple[JobStatus, ...], condition: ConditionBase, *, limit: int) -> list[Job]:
        """Up to ``limit`` matches over every shard of ``statuses``, the shards taking turns (none starves)."""
        requests = [
            {
                "IndexName": BY_STATUS_INDEX,
                "KeyConditionExpression": Key(SHARD_ATTRIBUTE).eq(key),
                "FilterExpression": condition,
            }
            for status in statuses
            for key in shard_keys(status.value)
        ]
        found = self.each_shard(
            requests,
            lambda request: sweep_pages(self._table.query, request, limit=limit, max_pages=SWEEP_PAGES_PER_SHARD),
        )
        return [job_from_item(item) for item in take_in_turns(found, limit)]

    def count_by_status(self, store_ids: Iterable[str] | None, *, plugin_id: str | None = None) -> StatusCounts:
        """Jobs per status, for some stores or for all (admin); with ``plugin_id``, that plugin's only.

        Reads at most ``max_count_pages`` pages in all. The queries take turns a page at a time,
        so a status with millions of jobs cannot use up the budget before the others are counted.
        """
        counts = {status.value: 0 for status in JobStatus}
        # (the status a COUNT query counts, or None for a query tallying its items' statuses; the request)
        queries: deque[tuple[str | None, dict[str, Any]]] = deque()
        stores = None if store_ids is None else list(store_ids)
        if plugin_id is not None:
            # by_store_status holds keys only, not plugin_id: read the store index once, filtered,
            # and tally each match's status (one pass, where COUNT would take one per status).
            for store_id in stores or []:
                by_store = {
                    "IndexName": BY_STORE_INDEX,
                    "KeyConditionExpression": Key("store_id").eq(store_id),
                    "FilterExpression": Attr("plugin_id").eq(plugin_id),
                    "ProjectionExpression": "#st",
                    "ExpressionAttributeNames": {"#st": "status"},
                }
                queries.append((None, by_store))
        budget = self.max_count_pages
        if plugin_id is None and stores is None:
            # Every shard of every status: shard 0 of each status first, so a small budget still
            # sees every status.
            budget *= STATUS_SHARDS
            for shard in range(STATUS_SHARDS):
                for status in JobStatus:
                    key = Key(SHARD_ATTRIBUTE).eq(shard_keys(status.value)[shard])
                    queries.append(
                        (status.value, {"IndexName": BY_STATUS_INDEX, "KeyConditionExpression": key, "Select": "COUNT"})
                    )
        elif plugin_id is None:
            for status in JobStatus:
                for s in stores or []:
                    key = Key("store_id").eq(s) & Key("status").eq(status.value)
                    queries.append(
                        (
                            status.value,
                            {"IndexName": BY_STORE_STATUS_INDEX, "KeyConditionExpression": key, "Select": "COUNT"},
                        )
                    )
        while queries and budget > 0:
            # A round of queries at once (on a few threads); their next pages go to the back.
            batch = [queries.popleft() for _ in range(min(budget, SHARD_QUERY_THREADS, len(queries)))]
            budget -= len(batch)
            pages = self.each_shard([request for _, request in batch], lambda request: self._table.query(**request))
            for (counted, request), page in zip(batch, pages, strict=True):
                if counted is not None:
                    counts[counted] += page["Count"]
                for item in page.get("Items", []):
                    if item.get("status") in counts:
                        counts[item["status"]] += 1
                if "LastEvaluatedKey" in page:
                    queries.append((counted, {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}))
        return StatusCounts(counts=counts, exact=not queries)

    # --- writes ------------------------------------------------------------------------

    def backfill_status_shards(self, *, page_size: int = 500) -> BackfillReport:
        """Give every job its status index key (``status_shard``) where it is missing or stale.

        For items stored before the status index was sharded, or after STATUS_SHARDS changed: a
        whole-table Scan, then one UpdateItem per job to fix, conditional on the status the scan
        read (a job that moved meanwhile got its key from that move). It does not bump
        ``version``: it changes no state, so no write racing it is refused. Safe to run again,
        and while the system runs.
        """
        report = BackfillReport()
        request: dict[str, Any] = {
            "ProjectionExpression": "#id, #st, #sh, #ty",
            "ExpressionAttributeNames": {"#id": "id", "#st": "status", "#sh": SHARD_ATTRIBUTE, "#ty": "type"},
            "Limit": page_size,
        }
        while True:
            page = self._table.scan(**request)
            for item in page.get("Items", []):
                if "type" not in item or not isinstance(item.get("status"), str):
                    continue  # a rate-limit counter, not a job
                report.scanned += 1
                wanted = status_shard(item["status"], item["id"])
                if item.get(SHARD_ATTRIBUTE) == wanted:
                    continue
                try:
                    self._table.update_item(
                        Key={"id": item["id"]},
                        UpdateExpression="SET #sh = :sh",
                        ConditionExpression="#st = :st",
                        ExpressionAttributeNames={"#sh": SHARD_ATTRIBUTE, "#st": "status"},
                        ExpressionAttributeValues={":sh": wanted, ":st": item["status"]},
                    )
                    report.written += 1
                except ClientError as exc:
                    if not is_condition_failure(exc):
                        raise
                    report.moved += 1  # moved (and keyed by that move) or deleted since the scan
            if "LastEvaluatedKey" not in page:
                return report
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def create_many(self, jobs: list[Job]) -> None:
        """Store new jobs in BatchWriteItems of 25 (boto3 re-sends what DynamoDB left unprocessed).

        Unconditional puts: only for ids nobody else can have made (a batch's children, derived
        from a batch id whose own conditional put this caller won).
        """
        with self._table.batch_writer() as writer:
            for job in jobs:
                writer.put_item(Item=self._new_item(job)[0])

    def create(self, job: Job, *, along: dict[str, Any] | None = None) -> Job:
        """Store a new job; its large values go to S3 first, and the answer names where.

        ``along``: a transaction Put (TableName, Item, ConditionExpression...) written in the same
        transaction; its refusal raises CompanionRefusedError and stores neither.
        """
        item, job = self._new_item(job)
        # attribute_not_exists: a repeated idempotency key (same derived id) or a repeated
        # cron slot must not overwrite the first job.
        if along is not None:
            self._create_along(job.id, item, along)
            return job
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr("id").not_exists())
        except ClientError as exc:
            if is_condition_failure(exc):
                raise JobExistsError(f"Job {job.id} already exists.") from exc
            raise
        return job

    def _new_item(self, job: Job) -> tuple[dict[str, Any], Job]:
        """A new job's item (its large values put in S3 first), and the job naming where they went."""
        item = {**job_to_item(job), SHARD_ATTRIBUTE: status_shard(job.status.value, job.id)}
        placed: dict[str, Any] = {}
        for field in VALUE_FIELDS:
            if getattr(job, field) is not None and getattr(job, ref_attribute(field)) is None:
                placed.update(self.values.item_changes(job.id, field, getattr(job, field)))
        item.update(placed)
        item = {name: value for name, value in item.items() if value is not None}
        refs = {name: value for name, value in placed.items() if name.endswith("_ref") and value is not None}
        if refs:
            job = job.with_values(**{field: getattr(job, field) for field in VALUE_FIELDS}).model_copy(update=refs)
        return item, job

    def _create_along(self, job_id: str, item: dict[str, Any], along: dict[str, Any]) -> None:
        """Put the job and ``along`` (a transaction's Put of another item, e.g. a window's) at once.

        Race prevented: a window item naming a job that was never stored (a crash between two
        writes) would send later schedules to nothing; both are written, or neither.
        """
        put = {"TableName": self._table.name, "Item": item, "ConditionExpression": "attribute_not_exists(id)"}
        try:
            self._table.meta.client.transact_write_items(TransactItems=[{"Put": put}, {"Put": along}])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise CompanionRefusedError(f"The item written with job {job_id} changed meanwhile.") from None
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise JobExistsError(f"Job {job_id} already exists.") from None
            raise

    def collapse_debounced(
        self,
        job_id: str,
        *,
        debounce_key: str,
        payload: dict[str, Any],
        scheduled_at: str,
        now: str,
        rights: Rights | None,
        created_by: str | None,
    ) -> Job:
        """Give a debounced job a later schedule's payload and start: one more schedule collapsed into it.

        Race prevented: a worker claiming the job at the same moment. Either this write lands
        first (the claim then finds the job not due and hides its message until the new time),
        or the claim does (``started_at`` exists) and this one is refused: the caller opens a new
        window rather than changing a run that has begun.
        """
        condition = (
            Attr("status").eq(JobStatus.PENDING.value)
            & Attr("started_at").not_exists()
            & Attr("debounce_key").eq(debounce_key)
        )
        # The run acts with the rights of whoever gave the payload it runs with.
        changes = {
            "payload": payload,
            "scheduled_at": scheduled_at,
            "updated_at": now,
            "rights": rights.model_dump(mode="json") if rights is not None else None,
            "created_by": created_by,
        }
        return self._update(job_id, changes, condition, adds={"debounce_count": 1})

    def claim_due(self, job_id: str, *, lease_token: str, now: str, lease_until: str, due_by: str) -> Job:
        """Claim a pending or retrying job that is due by ``due_by``, without reading it first.

        The common case costs one UpdateItem instead of GetItem + UpdateItem; when the
        condition fails, DynamoDB hands back the item as it is (ALL_OLD), so the caller still
        learns why without a second read. Race prevented: two deliveries of one message both
        see a pending job; the status condition lets exactly one of them through.
        """
        condition = (
            Attr("status").is_in([s.value for s in CLAIMABLE_STATUSES])
            & Attr("scheduled_at").lte(due_by)
            & (Attr("next_attempt_at").not_exists() | Attr("next_attempt_at").lte(due_by))
            & _not_expired(now)
        )
        changes = {
            "status": JobStatus.RUNNING.value,
            "lease_token": lease_token,
            "lease_until": lease_until,
            "started_at": now,
            "updated_at": now,
        }
        try:
            return self._update(
                job_id,
                changes,
                condition,
                remove=["next_attempt_at"],
                adds={"attempts": 1},
                # A job resuming from a checkpoint (suspend) keeps its attempt's start, and so
                # its timeout; any other claim starts a new attempt now.
                if_missing={"attempt_started_at": now},
                old_on_failure=True,
            )
        except ConditionFailedWithItemError as failure:
            raise ClaimRefusedError(job_from_item(failure.item) if failure.item else None) from None

    def claim(self, job: Job, *, lease_token: str, now: str, lease_until: str) -> Job:
        """Take a pending/retrying job, or a running one whose lease has expired.

        Race prevented: two deliveries of one message (or two workers) read the same
        version; only the first UpdateItem matches ``version``, the second gets StaleWriteError.
        """
        if job.status in CLAIMABLE_STATUSES:
            expected = Attr("status").is_in([s.value for s in CLAIMABLE_STATUSES]) & _not_expired(now)
        else:
            expected = Attr("status").eq(job.status.value) & Attr("lease_until").lt(now)
        resuming = job.status in CLAIMABLE_STATUSES and job.attempt_started_at is not None
        changes: dict[str, Any] = {
            "status": JobStatus.RUNNING.value if job.status != JobStatus.CANCELLING else job.status.value,
            "attempts": job.attempts + 1,
            "lease_token": lease_token,
            "lease_until": lease_until,
            "started_at": now,
            "attempt_started_at": job.attempt_started_at if resuming else now,
            "updated_at": now,
        }
        return self._update(job.id, changes, expected & Attr("version").eq(job.version), remove=["next_attempt_at"])

    def release(self, job: Job, *, lease_token: str, now: str, not_before: str) -> Job:
        """Give a claimed attempt back unused (its cron predecessor still runs): pending again.

        Race prevented: a cancel acknowledged since the claim (``cancelling``) must not be undone
        by putting the run back to wait; CancelAcknowledgedError says to finish it as cancelled.
        """
        changes = {
            "status": JobStatus.PENDING.value,
            "attempts": max(0, job.attempts - 1),
            "updated_at": now,
            "next_attempt_at": not_before,
        }
        return self._leased_update(
            job.id,
            lease_token,
            changes,
            self._holds_lease(lease_token, running_only=True),
            remove=["lease_token", "lease_until", "attempt_started_at"],
        )

    def suspend(self, job_id: str, *, lease_token: str, now: str, checkpoint: Any, log_lines: int | None = None) -> Job:
        """Hand a running attempt over to a fresh invocation: pending again, same attempt, from ``checkpoint``.

        ``attempts`` goes down by one because the next claim adds one back: a continuation is
        not a retry. ``attempt_started_at`` stays, so the attempt's timeout spans its invocations.
        Race prevented: a worker that lost its lease must not put a job another attempt owns
        back to pending, nor a cancelling one (CancelAcknowledgedError).
        """
        changes: dict[str, Any] = {"status": JobStatus.PENDING.value, "updated_at": now, "checkpoint": checkpoint}
        if log_lines is not None:
            changes.update(log_lines=log_lines, logs=None)  # an item written before the log item: its lines moved
        return self._leased_update(
            job_id,
            lease_token,
            changes,
            self._holds_lease(lease_token, running_only=True),
            remove=["lease_token", "lease_until", "next_attempt_at"],
            adds={"attempts": -1, "continuations": 1},
        )

    def heartbeat(
        self,
        job_id: str,
        *,
        lease_token: str,
        now: str,
        lease_until: str | None = None,
        progress: int | None = None,
        progress_message: str | None = None,
        log_lines: int | None = None,
        checkpoint: Any = None,
    ) -> Job:
        """Record progress, a checkpoint or a longer lease (``log_lines``: the log item's, just written);
        the answer tells whether cancel was asked.

        Race prevented: a worker whose lease expired (and whose job another worker reclaimed)
        must not overwrite the new attempt's progress.
        """
        changes: dict[str, Any] = {"updated_at": now}
        if lease_until is not None:
            changes["lease_until"] = lease_until
        if progress is not None:
            changes["progress"] = progress
            changes["progress_message"] = progress_message
        if log_lines is not None:
            changes.update(log_lines=log_lines, logs=None)  # an item written before the log item: its lines moved
        if checkpoint is not None:
            changes["checkpoint"] = checkpoint
        return self._update(job_id, changes, self._holds_lease(lease_token))

    def finish(
        self,
        job_id: str,
        *,
        lease_token: str,
        status: JobStatus,
        now: str,
        result: Any = None,
        error: str | None = None,
        log_lines: int | None = None,
        progress: int | None = None,
        progress_message: str | None = None,
        next_attempt_at: str | None = None,
        latest: Job | None = None,
    ) -> Job:
        """End an attempt: completed, failed, cancelled, or retrying after a backoff.

        Race prevented: a duplicate worker, or this worker after losing its lease, cannot
        complete the job a second time nor move it out of a final state. Only ``cancelled`` may
        end a ``cancelling`` job: any other end raises CancelAcknowledgedError, so a cancel the
        API acknowledged is never followed by a retry or a completion. Given the job as the
        attempt last wrote it (``latest``), DynamoDB returns only what this write changed, not
        the whole item (logs and all) again; the answer is that job with those changes.
        """
        changes: dict[str, Any] = {"status": status.value, "updated_at": now, "error": error}
        if status != JobStatus.RETRYING:
            changes["completed_at"] = now
            changes[TTL_ATTRIBUTE] = self._expiry(now)
        if result is not None:
            changes["result"] = result
        if log_lines is not None:
            changes.update(log_lines=log_lines, logs=None)  # an item written before the log item: its lines moved
        if progress is not None:
            changes["progress"] = progress
        if progress_message is not None:
            changes["progress_message"] = progress_message
        if next_attempt_at is not None:
            changes["next_attempt_at"] = next_attempt_at
        remove = ["lease_token", "lease_until", "attempt_started_at"]
        if status == JobStatus.COMPLETED:
            remove += ["checkpoint", ref_attribute("checkpoint")]  # done: nothing left to resume
        expected = self._holds_lease(lease_token, running_only=status != JobStatus.CANCELLED)
        return self._leased_update(job_id, lease_token, changes, expected, remove=remove, base=latest)

    def transition(self, job: Job, status: JobStatus, *, now: str, **changes: Any) -> Job:
        """Move a job from the status it was read in, if nobody changed it since (cancel, retry, abandon)."""
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        # None removes it: a retried job is not finished any more.
        values[TTL_ATTRIBUTE] = self._expiry(now) if status in TERMINAL_STATUSES else None
        values.update(changes)
        expected = Attr("status").eq(job.status.value) & Attr("version").eq(job.version)
        remove = ["lease_token", "lease_until", "attempt_started_at"] if status != JobStatus.CANCELLING else []
        return self._update(job.id, values, expected, remove=remove)

    def expiry(self, now: str) -> int | None:
        """When DynamoDB may delete what finished at ``now`` (a batch's item takes its jobs' expiry)."""
        return self._expiry(now)

    def _expiry(self, now: str) -> int | None:
        """When DynamoDB may delete a job that finished at ``now`` (None: kept for ever)."""
        if self._retention_s <= 0:
            return None
        return int(from_iso(now).timestamp()) + self._retention_s

    @staticmethod
    def _holds_lease(lease_token: str, *, running_only: bool = False) -> ConditionBase:
        """The attempt's lease; a cancelling job is still held (its handler reports until it notices)."""
        statuses = [JobStatus.RUNNING] if running_only else [JobStatus.RUNNING, JobStatus.CANCELLING]
        return Attr("lease_token").eq(lease_token) & Attr("status").is_in([s.value for s in statuses])

    def _leased_update(
        self, job_id: str, lease_token: str, changes: dict[str, Any], condition: ConditionBase, **options: Any
    ) -> Job:
        """An attempt's write; refused, it tells a cancel acknowledged under this lease from a lost lease.

        The item comes back with the refusal (ALL_OLD): no second read, and no window between
        the refusal and the look.
        """
        try:
            return self._update(job_id, changes, condition, old_on_failure=True, **options)
        except ConditionFailedWithItemError as failure:
            current = _job_or_none(failure.item)
            if current is not None and current.status == JobStatus.CANCELLING and current.lease_token == lease_token:
                raise CancelAcknowledgedError(current) from None
            raise StaleWriteError(f"Job {job_id} changed while this write was in flight.") from None

    def _update(
        self,
        job_id: str,
        changes: dict[str, Any],
        condition: ConditionBase,
        *,
        remove: list[str] | None = None,
        adds: dict[str, int] | None = None,
        if_missing: dict[str, Any] | None = None,
        old_on_failure: bool = False,
        base: Job | None = None,
    ) -> Job:
        # Placeholders avoid #n*/:v*, which boto3's condition builder generates for ConditionExpression.
        for field in VALUE_FIELDS:
            if field in changes:
                rest = {name: value for name, value in changes.items() if name != field}
                changes = {**rest, **self.values.item_changes(job_id, field, changes[field])}
        if "status" in changes:
            # Every write that sets the status moves the job to that status's key in the status
            # index; an item stored before the index was sharded gets its key here.
            changes = {**changes, SHARD_ATTRIBUTE: status_shard(changes["status"], job_id)}
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {":one": 1}
        sets = ["#version = #version + :one"]
        for i, (name, amount) in enumerate((adds or {}).items()):
            names[f"#a{i}"] = name
            values[":zero"] = 0
            values[f":a{i}"] = amount
            sets.append(f"#a{i} = if_not_exists(#a{i}, :zero) + :a{i}")
        for i, (name, value) in enumerate((if_missing or {}).items()):
            names[f"#m{i}"] = name
            values[f":m{i}"] = value
            sets.append(f"#m{i} = if_not_exists(#m{i}, :m{i})")
        removes = [f"#x{i}" for i, _ in enumerate(remove or [])]
        for i, name in enumerate(remove or []):
            names[f"#x{i}"] = name
        for i, (name, value) in enumerate(changes.items()):
            names[f"#u{i}"] = name
            if value is None:
                removes.append(f"#u{i}")
            else:
                values[f":u{i}"] = value
                sets.append(f"#u{i} = :u{i}")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        request: dict[str, Any] = {}
        if old_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            answer = self._table.update_item(
                Key={"id": job_id},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW" if base is None else "UPDATED_NEW",
                **request,
            )
        except ClientError as exc:
            if is_condition_failure(exc) and old_on_failure:
                raise ConditionFailedWithItemError(old_item(exc)) from exc
            if is_condition_failure(exc):
                raise StaleWriteError(f"Job {job_id} changed while this write was in flight.") from exc
            if _is_item_too_large(exc):
                raise ItemTooLargeError(f"Job {job_id}'s item would pass DynamoDB's {MAX_ITEM_BYTES} bytes.") from exc
            raise
        if base is None:
            return job_from_item(answer["Attributes"])
        item = job_to_item(base)
        for placeholder in removes:
            item.pop(names[placeholder], None)
        item.update(answer["Attributes"])
        return job_from_item(item)


def _not_expired(now: str) -> ConditionBase:
    """A claim's guard: a job past its start deadline never starts (it ends ``expired`` instead).

    An attempt handed over to a fresh invocation (``attempt_started_at`` kept by suspend) has
    started: it continues. ISO stamps in UTC with a fixed width (clock.to_iso) compare as
    strings in time order.
    """
    return Attr("start_by").not_exists() | Attr("start_by").gt(now) | Attr("attempt_started_at").exists()


def _is_item_too_large(exc: ClientError) -> bool:
    # DynamoDB (and moto): "Item size [to update] has exceeded the maximum allowed size".
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "maximum allowed size" in error.get("Message", "")


def _job_or_none(item: dict[str, Any] | None) -> Job | None:
    """The job an item holds, or None: the table also holds rate-limit counters (no type)."""
    if not item or "type" not in item:
        return None
    try:
        return job_from_item(item)
    except (ValueError, TypeError):  # pydantic's ValidationError and json's errors are ValueErrors
        # Not found rather than a 500: a caller must learn nothing from an item that is not a job.
        logger.warning("Item %r in the jobs table is not a job; treated as missing.", item.get("id"))
        return None
