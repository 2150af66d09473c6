"""Where the writes land: the hottest partition key value of each index, under a mixed workload.

    .venv/bin/python -m bench.partition_heat [--stores 50] [--quick]

DynamoDB serves one partition key value at about 1,000 write units a second, on the table and
on each GSI alike. A botocore hook on the runtime's session sees every write the API, the workers
and the tick send; a separate client that the hook does not see reads the item before and after
it, and each index whose key the item holds before or after is charged a write on that key value
(both values when the write moves the item from one to the other).

Workload: each of ``--stores`` stores schedules the guide's import job twice, a job that fails
every attempt (one retry), and a delayed job it then cancels, and saves four cron jobs; the tick
fires; the workers run everything. Target for the sharded indexes (the jobs table's status
index, the cron table's due index): the hottest key value takes at most 2/N of the index's writes
(N = 16 shards), once the index has seen at least 10 writes a shard. The per-store and per-cron indexes take what one store or cron job writes,
bounded by the store's rate limit rather than by the system's load (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from bench.common import MotoStack, Row, Target, bench_environment, moto_stack, register_once, run_cli

bench_environment()

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


SHARDED = ("by_status_shard", "due")
CRONS_PER_STORE = 4


def failing_type() -> str:
    from chalicelib.jobs.base import BaseJobHandler

    class BenchFailing(BaseJobHandler):
        def execute(self) -> None:
            raise RuntimeError("fails every attempt")

    return register_once("plugin:bench:failing", BenchFailing)


def mixed_workload(stack: MotoStack, stores: int) -> None:
    from chalice.test import Client

    from chalicelib.auth import Role, mint_token

    client = Client(stack.app.app)
    admin = mint_token(stack.settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = client.http.post(path, headers=headers, body=json.dumps(body))
        assert answer.status_code in (200, 201, 202), answer.body
        return answer.json_body

    failing = failing_type()
    for n in range(stores):
        store = f"store-{n:02d}"
        for _ in range(2):
            post(
                "/api/background-jobs/schedule",
                {"type": "plugin:my-plugin:import", "storeId": store, "payload": {"count": 2}},
            )
        post("/api/background-jobs/schedule", {"type": failing, "storeId": store, "maxRetries": 1})
        delayed = post(
            "/api/background-jobs/schedule", {"type": "plugin:my-plugin:import", "storeId": store, "delay": 600}
        )
        post(f"/api/background-jobs/{delayed['job']['id']}/cancel", {})
        for c in range(CRONS_PER_STORE):
            cron = {
                "name": f"sync {n}.{c}",
                "cron_expression": "* * * * *",
                "timezone": "UTC",
                "job_type": "plugin:my-plugin:import",
                "store_id": store,
                "configuration": {"count": 1},
            }
            post("/api/cron-jobs", cron)
        stack.poller.drain()
    stack.runtime.tick.run_tick(datetime.now(UTC))
    for _ in range(20):
        if not stack.poller.drain():
            break


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stores", type=int, default=50, help="stores in the workload")


def measure(args: argparse.Namespace) -> list[Row]:
    import dataclasses

    from chalicelib.config import Settings
    from chalicelib.jobs.shards import STATUS_SHARDS

    stores = 10 if args.quick else args.stores
    # Retries at once: the workload settles in one pass of the workers.
    settings = dataclasses.replace(Settings.from_env(), backoff_s=(0,))
    with moto_stack(settings=settings) as stack:
        recorder = HeatRecorder(stack.session)
        mixed_workload(stack, stores)
        shares = recorder.hottest()
        keys = {where: len(counts) for where, counts in recorder.writes.items()}
    rows = []
    for (table, index), (value, share, total) in shares.items():
        if index == TABLE:
            continue
        sharded = index in SHARDED and total >= 10 * STATUS_SHARDS
        rows.append(
            Row(
                f"11 hottest partition share: {table} {index}",
                "%",
                100 * share,
                100 * 2 / STATUS_SHARDS if sharded else None,
                "2/N, N = 16 shards" if sharded else "",
                Target("ours", "<=", 100 * 2 / STATUS_SHARDS) if sharded else None,
                note=f"{value!r} of {total} writes over {keys[(table, index)]} key values ({stores} stores)",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_cli("partition_heat", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
