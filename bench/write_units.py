"""DynamoDB write units per job life, small and with a ~200 KB payload, as DynamoDB would bill them.

    .venv/bin/python -m bench.write_units [--jobs 20] [--quick]

Runs the real API route and the real Lambda worker function against moto in-process. A botocore
hook on the runtime's session sees every DynamoDB write (PutItem, UpdateItem, DeleteItem,
TransactWriteItems, BatchWriteItem); around each one, a second client on its own session (its
calls are not the runtime's and are not counted) reads every item the write names, before and
after. From the two, ``bench/dynamo_units.py`` computes what DynamoDB bills: per item, one unit
per KB of the larger of the two sizes (at least one, twice in a transaction), and for each
global secondary index the put, delete, delete + put or update of the item's projection.

- Job life: schedule -> completed for a handler that reports nothing, per job, table and
  indexes apart; the per-store rate-limit counter's writes are part of it. Baseline: three
  writes of an item under 1 KB with no index (put, claim, finish).
- 200 KB payload: the same life with a payload of about 200 KB. Target: at most 1.5 times the
  small job's units (a job's size should not multiply what each of its state changes costs).
- Progress write: a handler reporting 10 times with the write interval at 0, against the silent
  one, both with the 200 KB payload: extra units / reports. Baseline: one UpdateItem under 1 KB.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from typing import Any

from bench.common import (
    MotoStack,
    Row,
    Target,
    bench_environment,
    moto_stack,
    noop_type,
    register_once,
    run_cli,
    run_job_lives,
)
from bench.dynamo_units import TableShape, WriteCost, write_cost

bench_environment()

WRITE_OPS = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
PAYLOAD_BYTES = 200 * 1024
PROGRESS_REPORTS = 10


class WriteMeter:
    """Write units of every DynamoDB write one botocore session sends, by operation and by index."""

    def __init__(self, reader: Any, shapes: list[TableShape]) -> None:
        self._reader = reader  # a client on another session: its reads are not hooked
        self._shapes = {shape.name: shape for shape in shapes}
        self.cost = WriteCost()
        self.by_operation: Counter[str] = Counter()
        self.items_written = 0

    def attach(self, session: Any) -> None:
        for operation in WRITE_OPS:
            session.events.register(f"before-call.dynamodb.{operation}", self._before)
            session.events.register(f"after-call.dynamodb.{operation}", self._after)

    def reset(self) -> None:
        self.cost = WriteCost()
        self.by_operation.clear()
        self.items_written = 0

    def _targets(self, operation: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, transactional) for each item the request writes."""
        found: list[tuple[str, dict[str, Any], bool]] = []
        if operation == "PutItem":
            found.append((body["TableName"], self._shapes[body["TableName"]].key_of(body["Item"]), False))
        elif operation in ("UpdateItem", "DeleteItem"):
            found.append((body["TableName"], body["Key"], False))
        elif operation == "TransactWriteItems":
            for entry in body["TransactItems"]:
                for kind in ("Put", "Update", "Delete", "ConditionCheck"):
                    if kind in entry:
                        part = entry[kind]
                        key = part["Key"] if "Key" in part else self._shapes[part["TableName"]].key_of(part["Item"])
                        found.append((part["TableName"], key, True))
        elif operation == "BatchWriteItem":
            for table, requests in body["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        found.append((table, self._shapes[table].key_of(request["PutRequest"]["Item"]), False))
                    else:
                        found.append((table, request["DeleteRequest"]["Key"], False))
        return found

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"])
        targets = [t for t in self._targets(model.name, body) if t[0] in self._shapes]
        context["write_units"] = [(table, key, tx, self._read(table, key)) for table, key, tx in targets]

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        targets = context.pop("write_units", None)
        if targets is None:
            return
        refused = "Error" in (parsed or {})
        for table, key, transactional, before in targets:
            after = self._read(table, key)
            cost = write_cost(self._shapes[table], before, after, transactional=transactional, refused=refused)
            self.cost.add(cost)
            self.by_operation[model.name] += cost.total
            self.items_written += 1


def progress_type() -> str:
    from chalicelib.jobs.base import BaseJobHandler

    class BenchUnitsProgress(BaseJobHandler):
        def execute(self) -> dict[str, int]:
            for step in range(1, PROGRESS_REPORTS + 1):
                self.update_progress(step * 10, f"step {step}")
            return {"steps": PROGRESS_REPORTS}

    return register_once("plugin:bench:units-progress", BenchUnitsProgress)


def metered(stack: MotoStack) -> WriteMeter:
    import boto3

    from chalicelib.crons.store import cron_table_definition
    from chalicelib.jobs.store import jobs_table_definition

    reader = boto3.session.Session(region_name="us-east-1").client("dynamodb")
    shapes = [
        TableShape.from_definition(jobs_table_definition(stack.settings.jobs_table)),
        TableShape.from_definition(cron_table_definition(stack.settings.cron_jobs_table)),
    ]
    meter = WriteMeter(reader, shapes)
    meter.attach(stack.session)
    return meter


def job_lives(stack: MotoStack, meter: WriteMeter, job_type: str, payload: str, jobs: int) -> WriteCost:
    """The write units of ``jobs`` jobs scheduled over HTTP and run by the worker, in all."""
    run_job_lives(stack, job_type, payload, jobs, measure_from=meter.reset)
    stack.purge_queues()
    return dataclasses.replace(meter.cost, indexes=dict(meter.cost.indexes))


def big_payload() -> str:
    # A JSON object of about PAYLOAD_BYTES: the job's item stores it as a JSON string.
    return json.dumps({"blob": "x" * (PAYLOAD_BYTES - 12)})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=20, help="jobs per measurement")


def per_job(cost: WriteCost, jobs: int) -> dict[str, float]:
    return {
        "total": cost.total / jobs,
        "table": cost.table / jobs,
        "indexes": cost.index_total / jobs,
        **{f"index {name}": n / jobs for name, n in sorted(cost.indexes.items())},
    }


def describe(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in figures.items())


def measure(args: argparse.Namespace) -> list[Row]:
    from chalicelib.config import Settings

    jobs = 3 if args.quick else args.jobs
    noop = noop_type()
    with moto_stack() as stack:
        meter = metered(stack)
        small = job_lives(stack, meter, noop, "{}", jobs)
        large = job_lives(stack, meter, noop, big_payload(), jobs)
    # As bench/requests_per_job.py measures a report: every report written (interval 0), a long
    # lease (no heartbeat renewal), no rate-limit counter; silent and reporting runs differ only
    # by the reports.
    eager = dataclasses.replace(
        Settings.from_env(), progress_interval_s=0.0, lease_s=900, max_jobs_per_minute_per_store=0
    )
    with moto_stack(settings=eager) as stack:
        meter = metered(stack)
        silent = job_lives(stack, meter, noop, big_payload(), jobs)
        reporting = job_lives(stack, meter, progress_type(), big_payload(), jobs)

    small_job, large_job = per_job(small, jobs), per_job(large, jobs)
    report = {
        "total": (reporting.total - silent.total) / (PROGRESS_REPORTS * jobs),
        "table": (reporting.table - silent.table) / (PROGRESS_REPORTS * jobs),
        "indexes": (reporting.index_total - silent.index_total) / (PROGRESS_REPORTS * jobs),
    }
    return [
        Row(
            "9 write units per job life (small job)",
            "WRU",
            small_job["total"],
            3,
            "3 writes <1 KB, no index",
            note=f"per job over {jobs} jobs: {describe(small_job)}",
            extra={"per_job": small_job, "jobs": jobs},
        ),
        Row(
            "9 write units per job life (200 KB payload vs small)",
            "WRU",
            large_job["total"],
            small_job["total"],
            "small job",
            Target("ratio", "<=", 1.5),
            note=f"payload {PAYLOAD_BYTES // 1024} KB; per job over {jobs} jobs: {describe(large_job)}",
            extra={"per_job": large_job, "jobs": jobs},
        ),
        Row(
            "9 write units per progress write (200 KB payload)",
            "WRU",
            report["total"],
            1,
            "1 UpdateItem <1 KB",
            note=f"over {PROGRESS_REPORTS * jobs} reports: {describe(report)}",
            extra={"per_report": report},
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("write_units", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
