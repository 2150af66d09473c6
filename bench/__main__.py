"""``python -m bench`` (``make bench``): every benchmark, one after another, each in its own process."""

from __future__ import annotations

import subprocess
import sys

BENCHES = ["bench.requests_per_job", "bench.keepalive", "bench.cron_speed"]


def main() -> int:
    failed = 0
    for module in BENCHES:
        print(f"\n=== {module}", flush=True)
        failed += subprocess.call([sys.executable, "-m", module]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
