"""AWS requests per job, per cron firing and per progress update, counted at the botocore layer.

    .venv/bin/python -m bench.requests_per_job [--jobs 50] [--quick]

Runs against moto in-process through the real API route, the real tick and the real Lambda
worker function; counts every request botocore sends (before-call hook), by operation.

- Job life: schedule -> completed for a handler that reports nothing. The figure with the
  target leaves out what Lambda's event source does for us (ReceiveMessage, DeleteMessageBatch);
  the second row adds them back, as each batch of up to 10 shares them. Empty polls are the
  local poller's idle cost and are counted apart. Baseline: put the job, send the message,
  conditional update to running, update to completed (4).
- Cron firing: (requests of a tick firing N slots - requests of an idle tick) / N. Baseline:
  put the job, send it, advance the cron (3).
- Counter writes: the UpdateItems on the overview's stats items (chalicelib/stats/) during the
  job lives above, per job. One per worker batch: about 0.1 in batches of ten.
- Progress update: a handler reporting 10 times with the write interval at 0, against the
  no-op handler: extra requests / reports. Baseline 1 (one UpdateItem).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta
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

bench_environment()

PROGRESS_REPORTS = 10
LARGE_PAYLOAD_BYTES = 200 * 1024  # past the item's inline limit: the payload lives in S3
CRONS = 10
T0 = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
LAMBDA_SIDE = ("sqs.ReceiveMessage", "sqs.DeleteMessageBatch", "sqs.ReceiveMessage(empty)")


def progress_type() -> str:
    from chalicelib.jobs.base import BaseJobHandler

    class BenchProgress(BaseJobHandler):
        def execute(self) -> dict[str, int]:
            for step in range(1, PROGRESS_REPORTS + 1):
                self.update_progress(step, f"step {step}")
            return {"steps": PROGRESS_REPORTS}

    return register_once("plugin:bench:progress", BenchProgress)


def job_lives(
    stack: MotoStack, job_type: str, payload: str, jobs: int, stats_writes: list[str] | None = None
) -> dict[str, int]:
    """Requests for ``jobs`` jobs scheduled over HTTP and run by the worker, by operation."""

    def measure_from() -> None:
        stack.counter.reset()
        if stats_writes is not None:
            stats_writes.clear()

    run_job_lives(stack, job_type, payload, jobs, measure_from=measure_from)
    return dict(stack.counter.calls)


def watch_stats_writes(stack: Any) -> list[str]:
    """The key of each UpdateItem sent to a stats item (the overview's counters); ``stack`` is any
    with a runtime (a bench's MotoStack, a test's Stack)."""
    seen: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        key = params.get("Key", {}).get("id", "")
        key = key.get("S", "") if isinstance(key, dict) else str(key)  # the wire form: {"S": ...}
        if key.startswith("stats#"):
            seen.append(key)

    stack.runtime._jobs_table.meta.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", note)
    return seen


def cron_firing(stack: MotoStack, clock: Any) -> tuple[float, int]:
    """Requests per fired slot on the tick side, and the slots fired."""
    from chalicelib.auth import SYSTEM_PRINCIPAL
    from chalicelib.crons.model import CronJobFields

    tick = stack.runtime.tick
    tick.run_tick(T0)  # plugins' declared crons are created once per process: not billed here
    stack.counter.reset()
    tick.run_tick(T0)
    idle = stack.counter.total
    for n in range(CRONS):
        fields = CronJobFields(
            name=f"bench {n}", cron_expression="* * * * *", job_type=noop_type(), store_id="s", configuration={}
        )
        stack.runtime.crons.create(fields, SYSTEM_PRINCIPAL)
    clock.advance(60)
    stack.counter.reset()
    report = tick.run_tick(T0 + timedelta(minutes=1))
    busy = stack.counter.total
    assert report.fired >= CRONS and report.errors == 0, report
    stack.purge_queues()
    return (busy - idle) / report.fired, report.fired


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=50, help="jobs per measurement")


def measure(args: argparse.Namespace) -> list[Row]:
    from chalicelib.clock import ManualClock
    from chalicelib.config import Settings

    jobs = 5 if args.quick else args.jobs
    noop, progress = noop_type(), progress_type()
    # Every report written: the interval is the only thing that merges reports (by design). A
    # handler that reports nothing costs the same either way, so one stack serves both.
    with moto_stack() as stack:
        stats_writes = watch_stats_writes(stack)
        plain = job_lives(stack, noop, "{}", jobs, stats_writes)
        counter_writes = len(stats_writes)
        large = job_lives(stack, noop, json.dumps({"blob": "x" * LARGE_PAYLOAD_BYTES}), jobs)
    # The cost of a report is the difference between two runs that differ only by the reports.
    # A long lease keeps the heartbeat's renewals (every lease/3) out of a slow run; without the
    # per-store rate limit, its batched counter writes (one per 10 jobs) cannot fall unevenly.
    eager = dataclasses.replace(
        Settings.from_env(), progress_interval_s=0.0, lease_s=900, max_jobs_per_minute_per_store=0
    )
    with moto_stack(settings=eager) as stack:
        silent = job_lives(stack, noop, "{}", jobs)
        reporting = job_lives(stack, progress, "{}", jobs)
    guide: dict[str, int] = {}
    if not args.quick:
        with moto_stack() as stack:
            guide = job_lives(stack, "plugin:my-plugin:import", '{"count":1}', jobs)
    clock = ManualClock(T0)
    with moto_stack(clock=clock) as stack:
        firing, fired = cron_firing(stack, clock)

    excl = sum(n for name, n in plain.items() if name not in LAMBDA_SIDE) / jobs
    incl = sum(n for name, n in plain.items() if name != "sqs.ReceiveMessage(empty)") / jobs
    # Per-job requests only: receives, deletes and the worker's one visibility change per batch
    # depend on how the poller happened to batch the messages, not on the reports.
    per_batch = (*LAMBDA_SIDE, "sqs.ChangeMessageVisibilityBatch")
    own = {
        name: sum(n for op, n in calls.items() if op not in per_batch)
        for name, calls in (("silent", silent), ("reporting", reporting))
    }
    per_update = (own["reporting"] - own["silent"]) / (PROGRESS_REPORTS * jobs)
    detail = ", ".join(f"{name.split('.')[1]} {n / jobs:.2f}" for name, n in sorted(plain.items()) if n)
    rows = [
        Row(
            "2 AWS requests per job life, no progress, excl. Lambda's receive+delete",
            "req",
            excl,
            4,
            "put+send+2 updates",
            Target("ours", "<=", 5),
            note=f"per job over {jobs} jobs: {detail}",
            extra={"calls": plain, "jobs": jobs},
        ),
        Row(
            "2 AWS requests per job life, 200 KB payload, excl. Lambda's receive+delete",
            "req",
            sum(n for name, n in large.items() if name not in LAMBDA_SIDE) / jobs,
            6,
            "4 + S3 PUT at schedule + GET at claim",
            note="per job: "
            + ", ".join(f"{name.split('.')[1]} {n / jobs:.2f}" for name, n in sorted(large.items()) if n),
            extra={"calls": large},
        ),
        Row(
            "2 AWS requests per job life, incl. Lambda's receive+delete (batches of <=10)",
            "req",
            incl,
            4.2,
            "+1 receive, 1 delete per 10",
        ),
        Row(
            "2 counter writes per job life (the overview's stats items)",
            "req",
            counter_writes / jobs,
            0.1,
            "1 UpdateItem per batch of 10",
            Target("ours", "<=", 0.2),
            note=f"{counter_writes} UpdateItems on stats# items for {jobs} jobs (also counted in the rows above)",
        ),
        Row(
            "2 AWS requests per progress update",
            "req",
            per_update,
            1,
            "1 UpdateItem",
            Target("ours", "<=", 1),
            extra={"reports": PROGRESS_REPORTS * jobs},
        ),
        Row(
            "2 AWS requests per cron firing (tick side)",
            "req",
            firing,
            3,
            "put+send+advance",
            note=f"(tick firing {fired} slots - idle tick) / slots; each cron's first slot was queued at save, "
            "so the tick fires the next (look-ahead): put, send, advance; no target",
        ),
    ]
    if guide:
        rows.append(
            Row(
                "2 AWS requests per job life, guide's import job (1 item), excl. receive+delete",
                "req",
                sum(n for name, n in guide.items() if name not in LAMBDA_SIDE) / jobs,
                6,
                "4 + the first and the final progress write (the rule before)",
                note="progress 10, 50, 50, 100 within a second of the claim: none is written apart, the "
                "finish carries the last; its log lines are one PutItem (their own item), the store's slots 0.2",
                extra={"calls": guide},
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_cli("requests_per_job", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
