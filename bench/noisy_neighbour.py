"""Noisy neighbour: how long a quiet store's jobs wait behind another store's flood, same priority.

    .venv/bin/python -m bench.noisy_neighbour [--flood 600] [--quiet 10] [--job-seconds 10] [--quick]

The real app and worker on moto in-process, fed by the local Lambda pollers (real threads, real
time): one poller, 10 concurrent invocations of 10 records each, so 100 jobs run at once. Store
"flood" schedules ``--flood`` jobs of ``--job-seconds`` each at ``normal`` (more than the workers
run at once, so a backlog builds), then store "quiet" schedules ``--quiet`` of the same. Ours
runs with the default store cap (TICKWORK_STORE_MAX_RUNNING, 25); the figure beside it is the
quiet store alone on the same stack. A third run with the caps out of reach (10,000) is the
behaviour before the caps, and its requests per job are the base for "extra requests".

Scaled down from the issue's 600 jobs of 60 s on 400 workers: the jobs last 10 s and 100 run at
once (moto in one process could not keep 400 threads fed), so the flood's backlog drains in a
minute, not minutes. The schedules go in before the pollers start; a wait is a job's
``started_at - created_at``. The quiet store's wait is bounded by how fast the pollers get
through the flood's messages at the head of the queue, deferring those over the cap.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from typing import Any

from bench.common import MotoStack, Row, Target, bench_environment, moto_stack, register_once, run_cli

bench_environment()

INVOCATIONS = 10
FINISHED: list[str] = []  # job ids, as handlers return (watched without an AWS request)
LAMBDA_SIDE = ("sqs.ReceiveMessage", "sqs.DeleteMessageBatch", "sqs.ReceiveMessage(empty)")


def sleeper_type(seconds: float) -> str:
    from chalicelib.jobs.base import BaseJobHandler

    class BenchSleeper(BaseJobHandler):
        def execute(self) -> dict[str, bool]:
            time.sleep(float(self.job.payload.get("s", seconds)))
            FINISHED.append(self.job.id)
            return {"ok": True}

    return register_once("plugin:bench:sleeper", BenchSleeper)


def run(stack: MotoStack, flood: int, quiet: int, job_seconds: float) -> dict[str, Any]:
    """Schedule the flood then the quiet jobs; run until all finish; the quiet store's start waits."""
    from chalice.test import Client

    from chalicelib.auth import Role, mint_token
    from chalicelib.clock import from_iso

    client = Client(stack.app.app)
    admin = mint_token(stack.settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    kind = sleeper_type(job_seconds)

    def schedule(store: str) -> str:
        body = f'{{"type":"{kind}","storeId":"{store}","payload":{{"s":{job_seconds}}}}}'
        answer = client.http.post("/api/background-jobs/schedule", headers=headers, body=body)
        assert answer.status_code == 201, answer.body
        return str(answer.json_body["job"]["id"])

    FINISHED.clear()
    stop = threading.Event()
    poller = threading.Thread(target=stack.poller.run, args=(stop, INVOCATIONS), daemon=True)
    stack.counter.reset()
    flood_ids = [schedule("flood") for _ in range(flood)]
    quiet_ids = [schedule("quiet") for _ in range(quiet)]
    started = time.monotonic()
    poller.start()
    everything = flood_ids + quiet_ids
    deadline = started + 600
    while len(set(FINISHED)) < len(everything):
        if time.monotonic() > deadline:
            raise RuntimeError("the jobs did not all finish within 10 minutes")
        time.sleep(0.2)
    time.sleep(1.0)  # the last finishes and releases are written
    stop.set()
    poller.join(timeout=30)
    drained_s = time.monotonic() - started
    calls = dict(stack.counter.calls)
    waits = {}
    for job_id in everything:
        job = stack.runtime.store.get(job_id)
        waits[job_id] = (from_iso(job.started_at) - from_iso(job.created_at)).total_seconds()
    jobs_n = len(everything)
    flood_done_s = max((waits[job] for job in flood_ids), default=0.0) + job_seconds
    return {
        "quiet_max_wait_s": max((waits[job] for job in quiet_ids), default=0.0),
        # The flood's own pace: its jobs over the time from the schedule to its last start + a run.
        "flood_jobs_per_s": len(flood_ids) / flood_done_s if flood_ids else 0.0,
        "flood_max_wait_s": max((waits[job] for job in flood_ids), default=0.0),
        "drained_s": drained_s,
        "per_job": sum(n for op, n in calls.items() if op != "sqs.ReceiveMessage(empty)") / jobs_n,
        "per_job_excl": sum(n for op, n in calls.items() if op not in LAMBDA_SIDE) / jobs_n,
        "attempts": max(stack.runtime.store.get(job).attempts for job in everything),
        "calls": calls,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flood", type=int, default=600)
    parser.add_argument("--quiet", type=int, default=10)
    parser.add_argument("--job-seconds", type=float, default=10.0)


def measure(args: argparse.Namespace) -> list[Row]:
    from chalicelib.config import Settings

    flood = 200 if args.quick else args.flood
    base = dataclasses.replace(Settings.from_env(), record_concurrency=10, max_jobs_per_minute_per_store=0)
    uncapped = dataclasses.replace(base, store_max_running=10_000, plugin_max_running=10_000)
    with moto_stack(settings=base) as stack:
        capped = run(stack, flood, args.quiet, args.job_seconds)
    with moto_stack(settings=base) as stack:
        alone = run(stack, 0, args.quiet, args.job_seconds)
    with moto_stack(settings=base) as stack:
        flood_alone = run(stack, flood, 0, args.job_seconds)
    with moto_stack(settings=uncapped) as stack:
        before = run(stack, flood, args.quiet, args.job_seconds)
    jobs = flood + args.quiet
    extra = capped["per_job"] - before["per_job"]
    extra_excl = capped["per_job_excl"] - before["per_job_excl"]
    cap = base.store_max_running
    scale = f"{flood} flood jobs of {args.job_seconds:g} s, {args.quiet} quiet, 100 run at once, store cap {cap}"
    return [
        Row(
            f"12 noisy neighbour: quiet store's max start wait behind a {flood}-job flood",
            "s",
            capped["quiet_max_wait_s"],
            alone["quiet_max_wait_s"],
            "same, no flood",
            Target("ours", "<=", 10),
            note=f"{scale}; without the caps the quiet store waited {before['quiet_max_wait_s']:.1f} s; "
            f"the flood's last job started after {capped['flood_max_wait_s']:.1f} s "
            f"(uncapped {before['flood_max_wait_s']:.1f} s); max attempts {capped['attempts']}",
            extra={"capped": capped, "alone": alone, "flood_alone": flood_alone, "uncapped": before},
        ),
        Row(
            "12 noisy neighbour: the flood's own throughput, shared with the quiet store vs alone",
            "jobs/s",
            capped["flood_jobs_per_s"],
            flood_alone["flood_jobs_per_s"],
            "the same flood alone",
            note=f"{flood} jobs of {args.job_seconds:g} s, store cap {cap}: at most "
            f"{cap / args.job_seconds:.2f} jobs/s by the cap; uncapped "
            f"{before['flood_jobs_per_s']:.2f} jobs/s (100 at once)",
        ),
        Row(
            "12 noisy neighbour: extra AWS requests per job caused by waiting (incl. receive+delete)",
            "req",
            extra,
            before["per_job"],
            "per job, caps out of reach",
            Target("ours", "<=", 1),
            note=f"capped {capped['per_job']:.2f} vs uncapped {before['per_job']:.2f} requests per job over "
            f"{jobs} jobs; excl. Lambda's receive+delete: {extra_excl:+.2f}",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("noisy_neighbour", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
