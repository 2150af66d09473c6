"""Cold start: import time of ``app`` (with its plugins) against ``import boto3, chalice``.

    .venv/bin/python -m bench.cold_start [--runs 9] [--quick]

Each import runs in a fresh ``python -X importtime -c ...`` and is summed from its report
(every module's own time). Runs alternate ours and baseline; the minimum of each is kept (the
run least disturbed by other load). Bytecode is compiled once into a private cache
(PYTHONPYCACHEPREFIX), for our sources as for site-packages, as a deployed package would ship
it; PYTHONDONTWRITEBYTECODE would otherwise make every run compile our sources again.
A reference row adds pydantic's BaseModel to the baseline: app's models need it at import.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import Row, Target, bench_environment, run_cli

bench_environment()

ROOT = Path(__file__).resolve().parent.parent
OURS = "import app"
BASELINE = "import boto3, chalice"
REFERENCE = "import boto3, chalice; from pydantic import BaseModel"
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(code: str) -> dict[str, int]:
    """Each imported module's own import time (microseconds), from one fresh interpreter."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "tickwork-bench-pycache")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return {m.group(4): int(m.group(1)) for m in map(LINE.match, done.stderr.splitlines()) if m}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=9, help="runs of each (the minimum is kept)")


def measure(args: argparse.Namespace) -> list[Row]:
    runs = 3 if args.quick else args.runs
    for code in (OURS, BASELINE, REFERENCE):
        import_times(code)  # compile into the cache; not timed
    totals: dict[str, list[float]] = {OURS: [], BASELINE: [], REFERENCE: []}
    ours_modules: dict[str, int] = {}
    base_modules: dict[str, int] = {}
    for _ in range(runs):
        for code in totals:
            modules = import_times(code)
            total_ms = sum(modules.values()) / 1000
            if code == OURS and (not totals[OURS] or total_ms < min(totals[OURS])):
                ours_modules = modules
            if code == BASELINE:
                base_modules = modules
            totals[code].append(total_ms)
    ours, base, ref = (min(totals[c]) for c in (OURS, BASELINE, REFERENCE))
    extra: Counter[str] = Counter()
    for name, micros in ours_modules.items():
        if name not in base_modules:
            extra[name.split(".")[0]] += micros
    heavy = ", ".join(f"{pkg} {us / 1000:.0f}" for pkg, us in extra.most_common(6))
    return [
        Row(
            "5 cold start: import app (with plugins)",
            "ms",
            ours,
            base,
            "boto3+chalice",
            Target("ratio", "<=", 1.3),
            note=f"python -X importtime, min of {runs}; beyond the baseline, ms by package: {heavy}",
            extra={"runs_ms": totals},
        ),
        Row("5 cold start: reference, boto3+chalice+pydantic BaseModel", "ms", ref, base, "boto3+chalice"),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("cold_start", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
