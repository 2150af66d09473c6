"""next_after calls per second through CronSchedule, against the raw library call, same run.

    .venv/bin/python -m bench.cron_speed [--seconds 0.25] [--quick]

For each expression: ``CronSchedule.next_after`` (parsed once, as the tick uses it), the raw
``next(CronSim(expr, start_in_zone))`` that it wraps (cronsim re-parses on every call too), and
the ratio. croniter's ``get_next`` is shown for reference when it is installed. Also parse
throughput (validation + zone load + never-fires probe). Bounded: about 12 x --seconds in all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import geometric_mean
from zoneinfo import ZoneInfo

from cronsim import CronSim

from bench.common import Row, run_cli
from chalicelib.crons.expression import parse_schedule

try:
    from croniter import croniter
except ImportError:  # only a reference column
    croniter = None

START = datetime(2026, 5, 4, 12, 34, 56, tzinfo=UTC)
CASES = [
    ("*/5 * * * *", "UTC"),
    ("0 2 * * *", "America/New_York"),
    ("0 * * * *", "Europe/Berlin"),
    ("0 0 1 * *", "Australia/Lord_Howe"),
    ("0 9 * * MON-FRI", "Asia/Kolkata"),
]


def calls_per_second(call: Callable[[], object], seconds: float) -> float:
    """Run ``call`` for about ``seconds``; calls per second."""
    call()  # warm caches (zone files, imports) outside the timing
    count, began = 0, time.perf_counter()
    deadline = began + seconds
    while True:
        for _ in range(50):
            call()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - began)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=0.25, help="time per measurement")


def measure(args: argparse.Namespace) -> list[Row]:
    seconds = 0.05 if args.quick else args.seconds
    ours: list[float] = []
    raw: list[float] = []
    other: list[float] = []
    lines = []
    for expression, zone_name in CASES:
        schedule = parse_schedule(expression, zone_name)
        local_start = START.astimezone(ZoneInfo(zone_name))
        ours.append(calls_per_second(lambda schedule=schedule: schedule.next_after(START), seconds))
        raw.append(calls_per_second(lambda e=expression, s=local_start: next(CronSim(e, s)), seconds))
        if croniter is not None:
            other.append(
                calls_per_second(lambda e=expression, s=local_start: croniter(e, s).get_next(datetime), seconds)
            )
        lines.append(f"{expression} {zone_name} {ours[-1] / raw[-1]:.2f}")
    # Geometric means: each expression weighs the same whatever its absolute speed.
    ours_mean, raw_mean = geometric_mean(ours), geometric_mean(raw)
    rows = [
        Row(
            "8 cron next-run computations, chalicelib.crons.expression vs bare cronsim",
            "/s",
            ours_mean,
            raw_mean,
            "cronsim",
            note=f"geometric mean over {len(CASES)} expressions and zones (ratio each: {'; '.join(lines)}); no target",
            extra={"ours": ours, "cronsim": raw, "croniter": other, "cases": CASES},
        )
    ]
    if other:
        rows.append(
            Row(
                "8 cron next-run computations, chalicelib.crons.expression vs bare croniter",
                "/s",
                ours_mean,
                geometric_mean(other),
                "croniter",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_cli("cron_speed", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
