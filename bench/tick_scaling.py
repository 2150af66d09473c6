"""Tick scaling: one tick firing 10 due cron jobs among 10, 1,000 and 10,000 stored.

    .venv/bin/python -m bench.tick_scaling [--sizes 10,1000,10000] [--ticks 5] [--quick]

Each size gets a fresh moto (in-process). The other cron jobs are active and stored in the
same due index, with their next slot a year away: the tick must not read them. Each measured
tick runs the real MinuteTick.run_tick at the next minute (ManualClock) and fires the 10
every-minute jobs once; the queue is purged after each tick (moto slows as a queue fills).
Reported: AWS requests per tick and median wall time, also split into time inside AWS calls
(moto's in-process handling; real DynamoDB reads a sparse index by key, moto scans the table)
and time in our code. Baseline: the smallest size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.common import Row, Target, bench_environment, median, moto_stack, noop_type, run_cli

bench_environment()

DUE = 10
T0 = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


@dataclass
class TickFigures:
    stored: int
    requests: float
    seconds: float
    aws_seconds: float

    @property
    def own_seconds(self) -> float:
        return self.seconds - self.aws_seconds


def stored_crons(total: int) -> list[dict[str, object]]:
    """Items as DynamoCronStore writes them: DUE every-minute jobs, the rest due in a year."""
    from chalicelib.clock import to_iso
    from chalicelib.crons.model import CronJob
    from chalicelib.crons.store import _item  # the stored shape, with the sparse due_shard

    stamp = to_iso(T0)
    items = []
    for n in range(total):
        due = n < DUE
        cron = CronJob(
            id=f"bench-{n:05d}",
            name=f"bench {n}",
            cron_expression="* * * * *" if due else "0 0 1 1 *",
            timezone="UTC",
            job_type=noop_type(),
            configuration={},
            store_id=f"store-{n % 50}",
            is_active=True,
            created_at=stamp,
            updated_at=stamp,
            created_by="bench",
            updated_by="bench",
            next_run_at=to_iso(T0 + timedelta(minutes=1)) if due else "2027-01-01T00:00:00.000000Z",
        )
        items.append(_item(cron))
    return items


def measure_size(total: int, ticks: int) -> TickFigures:
    from chalicelib.clock import ManualClock
    from chalicelib.config import Settings

    clock = ManualClock(T0)
    # One firing at a time: each message its own batch, so the request count is the same on
    # every run and at every size (a pool's batches depend on timing).
    settings = dataclasses.replace(Settings.from_env(), tick_concurrency=1)
    with moto_stack(settings=settings, clock=clock) as stack:
        table = stack.session.resource("dynamodb").Table(stack.settings.cron_jobs_table)
        with table.batch_writer() as batch:
            for item in stored_crons(total):
                batch.put_item(Item=item)
        tick = stack.runtime.tick
        requests: list[int] = []
        seconds: list[float] = []
        aws: list[float] = []
        for minute in range(1, ticks + 2):  # the first tick is a warm-up (and fires two slots each)
            at = T0 + timedelta(minutes=minute)
            clock.advance((at - clock.now()).total_seconds())
            stack.counter.reset()
            started = time.perf_counter()
            report = tick.run_tick(at)
            elapsed = time.perf_counter() - started
            if report.errors or report.fired < DUE:
                raise RuntimeError(f"tick at {at}: {report}")
            if minute > 1:
                requests.append(stack.counter.total)
                seconds.append(elapsed)
                aws.append(stack.counter.seconds)
            stack.purge_queues()
        return TickFigures(total, median(requests), median(seconds), median(aws))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="10,1000,10000", help="cron jobs stored, comma-separated")
    parser.add_argument("--ticks", type=int, default=5, help="measured ticks per size (median)")


def measure(args: argparse.Namespace) -> list[Row]:
    sizes, ticks = ([10, 100], 1) if args.quick else ([int(s) for s in args.sizes.split(",")], args.ticks)
    figures = [measure_size(total, ticks) for total in sizes]
    base, rows = figures[0], []
    for fig in figures[1:]:
        largest = fig is figures[-1]
        label = f"{fig.stored:,} vs {base.stored:,} stored"
        rows += [
            Row(
                f"3 tick requests, {DUE} due, {label}",
                "req",
                fig.requests,
                base.requests,
                f"@{base.stored}",
                Target("ratio", "<=", 1.2) if largest else None,
            ),
            Row(
                f"3 tick time, {DUE} due, {label}",
                "ms",
                1000 * fig.seconds,
                1000 * base.seconds,
                f"@{base.stored}",
                Target("ratio", "<=", 1.2) if largest else None,
                note="moto answers a Query on the sparse due index by scanning every item of the table; "
                "the next row leaves its time out"
                if largest
                else "",
            ),
            Row(
                f"3 tick time outside AWS calls, {label}",
                "ms",
                1000 * fig.own_seconds,
                1000 * base.own_seconds,
                f"@{base.stored}",
                Target("ratio", "<=", 1.2) if largest else None,
            ),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_cli("tick_scaling", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
