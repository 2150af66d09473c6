"""No partition key of the jobs table's status index carries much of the system's writes.

DynamoDB serves one partition key value at about 1,000 write units a second, on the table and
on each GSI alike. A botocore hook on the runtime's session sees every write the API, the workers
and the tick send; a separate client that the hook does not see reads the item before and after
it, and each index whose key the item holds before or after is charged a write on that key value
(both values when the write moves the item from one to the other). A mixed workload of 50 stores
then shows where the writes land.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from chalicelib.jobs.shards import STATUS_SHARDS
from tests.conftest import Stack
from tests.kit import create_cron, drain_until

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
TABLE = "(table)"
_plain = TypeDeserializer()


class IndexSchema:
    """One table's key and its GSIs' keys and projections, as DescribeTable tells them."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.key = [k["AttributeName"] for k in description["KeySchema"]]
        hash_of = {k["KeyType"]: k["AttributeName"] for k in description["KeySchema"]}
        # index name -> (hash key, every key attribute, projection type)
        self.indexes: dict[str, tuple[str, list[str], str]] = {TABLE: (hash_of["HASH"], self.key, "ALL")}
        for index in description.get("GlobalSecondaryIndexes", []):
            names = [k["AttributeName"] for k in index["KeySchema"]]
            hashed = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
            self.indexes[index["IndexName"]] = (hashed, names, index["Projection"]["ProjectionType"])


class HeatRecorder:
    """Index writes per (table, index, partition key value), from hooks on the recorded session."""

    def __init__(self, session: Any) -> None:
        self.reader = boto3.client("dynamodb", region_name="us-east-1")  # its calls are not recorded
        self.schemas: dict[str, IndexSchema] = {}
        self.writes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for operation in WRITES:
            session.events.register(f"before-call.dynamodb.{operation}", self.before)
            session.events.register(f"after-call.dynamodb.{operation}", self.after)

    def schema(self, table: str) -> IndexSchema:
        if table not in self.schemas:
            self.schemas[table] = IndexSchema(self.reader.describe_table(TableName=table)["Table"])
        return self.schemas[table]

    def targets(self, operation: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(table, key) of every item the write may change."""
        if operation == "PutItem":
            schema = self.schema(body["TableName"])
            return [(body["TableName"], {name: body["Item"][name] for name in schema.key})]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(body["TableName"], body["Key"])]
        found: list[tuple[str, dict[str, Any]]] = []
        if operation == "TransactWriteItems":
            for entry in body["TransactItems"]:
                for kind in ("Put", "Update", "Delete"):
                    if kind in entry:
                        part = entry[kind]
                        key = part.get("Key") or {n: part["Item"][n] for n in self.schema(part["TableName"]).key}
                        found.append((part["TableName"], key))
        if operation == "BatchWriteItem":
            for table, requests in body["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        found.append((table, {n: item[n] for n in self.schema(table).key}))
                    else:
                        found.append((table, request["DeleteRequest"]["Key"]))
        return found

    def read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return None if item is None else {name: _plain.deserialize(value) for name, value in item.items()}

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"])
        targets = self.targets(model.name, body)
        context["heat"] = [(table, key, self.read(table, key)) for table, key in targets]

    def after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        for table, key, old in context.pop("heat", []):
            new = self.read(table, key)
            for index, (hashed, names, projection) in self.schema(table).indexes.items():
                for value in self.touched(old, new, hashed, names, projection, is_table=index == TABLE):
                    self.writes[(table, index)][value] += 1

    @staticmethod
    def touched(
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        hashed: str,
        names: list[str],
        projection: str,
        *,
        is_table: bool,
    ) -> list[str]:
        """The partition key values of one index that a write from ``old`` to ``new`` writes."""
        if is_table:  # the table's own partition is written (and billed) whether or not anything changed
            item = new or old
            return [str(item[hashed])] if item else []
        before = old if old and all(n in old for n in names) else None
        after = new if new and all(n in new for n in names) else None
        if before is None and after is None:
            return []
        if before is not None and after is not None:
            same_keys = all(before[n] == after[n] for n in names)
            if same_keys and (before == after if projection == "ALL" else True):
                return []  # nothing the index holds changed: DynamoDB does not write it
            if before[hashed] == after[hashed]:
                return [str(after[hashed])]
        return [str(item[hashed]) for item in (before, after) if item is not None]

    def hottest(self) -> dict[tuple[str, str], tuple[str, float, int]]:
        """Per (table, index): the hottest key value, its share of the index's writes, the writes."""
        found = {}
        for where, counts in sorted(self.writes.items()):
            value, most = counts.most_common(1)[0]
            total = sum(counts.values())
            found[where] = (value, most / total, total)
        return found


def status_index(recorder: HeatRecorder, table: str) -> str:
    """The jobs table's status index (not by_store_status)."""
    (name,) = [n for n in recorder.schema(table).indexes if n.startswith("by_status") and "store" not in n]
    return name


def run_mixed_workload(stack: Stack, admin: str) -> None:
    stores = [f"store-{n:02d}" for n in range(50)]
    cancel_ids: list[str] = []
    for n, store in enumerate(stores):
        stack.schedule(admin, storeId=store, payload={"count": 2})  # the plugin's import job
        if n % 2 == 0:
            stack.schedule(admin, storeId=store, type="plugin:test-kit:flaky", payload={"failures": 1})
        if n % 5 == 0:  # fails every attempt: retrying, then failed
            stack.schedule(admin, storeId=store, type="plugin:test-kit:flaky", payload={"failures": 9}, maxRetries=1)
        if n % 4 == 0:
            cancel_ids.append(stack.schedule(admin, storeId=store, delay=600)["id"])
        if n % 5 == 1:
            stack.schedule(admin, storeId=store, delay=3600)  # delayed: stays pending
    for n in range(3):
        create_cron(stack, admin, name=f"cron {n}", store_id=stores[n], cron_expression=f"{n}/7 * * * *")
    for job_id in cancel_ids:
        assert stack.post(f"/api/background-jobs/{job_id}/cancel", {}, admin).status_code == 200
    stack.runtime.tick.run_tick(datetime.now(UTC))

    def settled() -> bool:
        counts = stack.get("/api/background-jobs/stats", admin).json_body["stats"]["counts"]
        return counts["running"] == counts["retrying"] == 0 and counts["completed"] + counts["failed"] >= 50 + 25

    drain_until(stack, settled, deadline_s=60)


def test_no_status_partition_carries_over_2_in_n_of_its_writes(stack: Stack, admin: str) -> None:
    recorder = HeatRecorder(stack.session)
    run_mixed_workload(stack, admin)
    jobs_table = stack.runtime.settings.jobs_table
    shares = recorder.hottest()
    assert shares, "the hook saw no writes"
    for (table, index), (value, share, total) in shares.items():
        print(f"{table:24} {index:18} hottest {value!r:36} {share:6.1%} of {total} writes")
    value, share, total = shares[(jobs_table, status_index(recorder, jobs_table))]
    assert total > 500, total
    assert share <= 2 / STATUS_SHARDS, f"{value!r} carries {share:.1%} of the status index's {total} writes"
