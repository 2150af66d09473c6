"""next_after calls per second through CronSchedule, against the raw library call, same run.

    .venv/bin/python -m bench.cron_speed [--seconds 0.25]

For each expression: ``CronSchedule.next_after`` (parsed once, as the tick uses it), the raw
``next(CronSim(expr, start_in_zone))`` that it wraps (cronsim re-parses on every call too), and
the ratio. croniter's ``get_next`` is shown for reference when it is installed. Also parse
throughput (validation + zone load + never-fires probe). Bounded: about 12 x --seconds in all.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim

from chalicelib.cron import parse_schedule

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.25, help="time per measurement")
    seconds = parser.parse_args().seconds

    print(f"{'expression':18} {'timezone':20} {'CronSchedule/s':>14} {'cronsim/s':>10} {'ratio':>6} {'croniter/s':>10}")
    for expression, zone_name in CASES:
        schedule = parse_schedule(expression, zone_name)
        local_start = START.astimezone(ZoneInfo(zone_name))
        ours = calls_per_second(lambda schedule=schedule: schedule.next_after(START), seconds)
        raw = calls_per_second(lambda e=expression, s=local_start: next(CronSim(e, s)), seconds)
        if croniter is not None:
            other = calls_per_second(lambda e=expression, s=local_start: croniter(e, s).get_next(datetime), seconds)
            other_text = f"{other:10.0f}"
        else:
            other_text = f"{'-':>10}"
        print(f"{expression:18} {zone_name:20} {ours:14.0f} {raw:10.0f} {ours / raw:6.2f} {other_text}")

    parse_rate = calls_per_second(lambda: parse_schedule("0 9 * * MON-FRI", "Europe/Berlin"), seconds)
    print(f"\nparse_schedule('0 9 * * MON-FRI', 'Europe/Berlin'): {parse_rate:.0f}/s")


if __name__ == "__main__":
    main()
