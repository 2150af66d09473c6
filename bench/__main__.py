"""``python -m bench`` (``make bench``): the measurements and the capacity model, one table.

    .venv/bin/python -m bench [--quick] [--lateness-minutes 5] [--only throughput,cold_start]
                              [--out bench/results/latest.json]

Each bench runs in its own process (cold start and memory need fresh interpreters; each moto
starts empty) and hands back its rows as JSON; this prints them as one table (figure, ours,
baseline, ratio, target, pass) with the machine and date, and writes them all to --out.
bench/results/ is git-ignored: figures depend on the machine and its load; docs/benchmarks.md
keeps a dated copy of the table. Exit status 1 only when a bench crashed, not when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import table

ROOT = Path(__file__).resolve().parent.parent
# In the order of the table in docs/benchmarks.md; (module, extra arguments).
BENCHES: list[tuple[str, list[str]]] = [
    ("throughput", []),
    ("requests_per_job", []),
    ("tick_scaling", []),
    ("lateness", []),
    # 1,500 over 12 runs to completion but takes about 7 minutes (docs/benchmarks.md).
    ("cron_burst", ["--crons", "300", "--stores", "6"]),
    ("cold_start", []),
    ("api_rps", []),
    ("memory", []),
    ("cron_speed", []),
    ("write_units", []),
    ("window_cost", []),
    ("partition_heat", []),
    ("noisy_neighbour", ["--flood", "300"]),
    ("parallel_import", []),
    ("capacity", []),
]
DEFAULT_LATENESS_MINUTES = 5.0  # five minutes; shorter for a quicker look


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "system": platform.platform()}


def run_bench(module: str, args: list[str]) -> tuple[list[dict[str, Any]], str | None, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{module}", "--json", str(out), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - started
        if done.returncode != 0 or not out.exists():
            return [], (done.stderr or done.stdout)[-4000:], elapsed
        return json.loads(out.read_text()), None, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes: every bench in seconds (lateness 1 min)")
    parser.add_argument("--lateness-minutes", type=float, default=DEFAULT_LATENESS_MINUTES)
    parser.add_argument("--only", help="comma-separated bench modules")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    chosen = set(args.only.split(",")) if args.only else None
    started_at = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for module, extra in BENCHES:
        if chosen is not None and module not in chosen:
            continue
        extra = list(extra)
        if args.quick:
            extra.append("--quick")
        if module == "lateness":
            extra += ["--minutes", f"{args.lateness_minutes:g}"]
        print(f"bench.{module} ...", end=" ", flush=True)
        found, error, elapsed = run_bench(module, extra)
        print(f"{elapsed:.0f} s" + (" FAILED" if error else ""), flush=True)
        if error:
            failures[module] = error
            print(error, file=sys.stderr)
        for row in found:
            row["bench"] = module
        rows += found
    info = machine()
    print(
        f"\n{started_at:%Y-%m-%d %H:%M} UTC, {info['nproc']} x {info['cpu']}, Python {info['python']}"
        + (" (--quick: smoke sizes, not figures)" if args.quick else "")
    )
    print(table(rows))
    missed = [row["figure"] for row in rows if row["passed"] is False]
    print(
        f"\ntargets: {sum(r['passed'] is True for r in rows)} met, {len(missed)} missed; benches crashed: {len(failures)}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": started_at.isoformat(),
                "machine": info,
                "quick": args.quick,
                "lateness_minutes": args.lateness_minutes,
                "rows": rows,
                "crashed": failures,
            },
            indent=2,
        )
    )
    print(f"written: {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
