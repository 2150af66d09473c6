"""Firing lateness on the embedded stack: 20 ``* * * * *`` cron jobs, p50 and p99 of start - slot.

    .venv/bin/python -m bench.lateness [--minutes 5] [--crons 20] [--quick]

Starts ``python -m devstack`` (its own moto server, the minute tick, 2 worker pollers),
creates the cron jobs over HTTP (the guide's import job with no items: the run is the firing),
waits --minutes, then reads every execution back over HTTP: lateness = ``started_at`` (the
worker's claim) - ``scheduled_at`` (the slot). Every slot after creation counts, the first one
too (queued when the cron job is created; every later one by the tick a minute ahead).

Baseline, same moto server, same minutes: at each minute the bench sends one message per cron
for the next minute's slot with DelaySeconds rounded up (what the tick did before messages
carried due_at) to a queue of its own, and a bare receive loop with the local poller's idle
back-off takes them: lateness = receive - slot. That is the floor of "SQS delay + poll" on this machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Row, Target, bench_environment, median, percentile, run_cli

bench_environment()

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE_S = 60.0
IDLE_SLEEP_MIN_S, IDLE_SLEEP_MAX_S = 0.02, 0.5  # devstack.pollers's back-off


def http(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded stack exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the embedded stack did not answer in {START_DEADLINE_S} s:\n{log.read_text()[-3000:]}")


class BareSqsFloor:
    """The baseline: delayed messages for the next minute's slots, and a bare receive loop."""

    def __init__(self, endpoint: str, per_minute: int) -> None:
        import boto3

        self._sqs = boto3.session.Session(region_name="us-east-1").client("sqs", endpoint_url=endpoint)
        self._url = self._sqs.create_queue(QueueName="bench-lateness-floor")["QueueUrl"]
        self._per_minute = per_minute
        self._stop = threading.Event()
        self.lateness: list[float] = []
        self._threads = [
            threading.Thread(target=self._send_loop, daemon=True),
            threading.Thread(target=self._receive_loop, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _send(self, slot: datetime) -> None:
        for _ in range(self._per_minute):
            delay = math.ceil((slot - datetime.now(UTC)).total_seconds())
            self._sqs.send_message(QueueUrl=self._url, MessageBody=slot.isoformat(), DelaySeconds=max(0, delay))

    def _send_loop(self) -> None:
        # Every slot from the first one on goes out ahead, with its delay (the tick's steady state).
        self._send(datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1))
        while True:
            now = datetime.now(UTC)
            minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            if self._stop.wait((minute - now).total_seconds()):
                return
            self._send(minute + timedelta(minutes=1))

    def _receive_loop(self) -> None:
        idle = IDLE_SLEEP_MIN_S
        while not self._stop.is_set():
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            received = datetime.now(UTC)
            for message in messages:
                self.lateness.append((received - datetime.fromisoformat(message["Body"])).total_seconds())
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
            if messages:
                idle = IDLE_SLEEP_MIN_S
                continue
            self._stop.wait(idle)
            idle = min(IDLE_SLEEP_MAX_S, idle * 2)


@dataclass
class EmbeddedStack:
    """``python -m devstack`` as a subprocess, with its own moto server and state folder."""

    base: str
    moto_endpoint: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_embedded_stack(prefix: str) -> EmbeddedStack:
    """Started, and answering /api/health (stopped again if it never does)."""
    from devstack.stack import free_port

    port, moto_port = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix=prefix))
    log = state / "stack.log"
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    env.update(TICKWORK_STATE_DIR=str(state), PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--no-reload", "--port", str(port), "--moto-port", str(moto_port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = EmbeddedStack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", log, process)
    try:
        wait_healthy(stack.base, process, log)
    except Exception:
        stack.stop()
        raise
    return stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the cron jobs run")
    parser.add_argument("--crons", type=int, default=20, help="every-minute cron jobs")


def measure(args: argparse.Namespace) -> list[Row]:
    from chalicelib.auth import Role, mint_token

    minutes, crons = (1.0, 5) if args.quick else (args.minutes, args.crons)
    stack = start_embedded_stack("tickwork-lateness-")
    base, log = stack.base, stack.log
    floor: BareSqsFloor | None = None
    try:
        token = mint_token(os.environ["TICKWORK_JWT_SECRET"], role=Role.ADMIN, subject="bench")
        floor = BareSqsFloor(stack.moto_endpoint, crons)
        floor.start()
        created_at = datetime.now(UTC)
        ids = []
        for n in range(crons):
            job = http(
                base,
                "POST",
                "/api/cron-jobs",
                token,
                {
                    "name": f"lateness {n}",
                    "cron_expression": "* * * * *",
                    "job_type": "plugin:my-plugin:import",
                    "store_id": "bench",
                    "configuration": {"count": 0},
                },
            )["job"]
            ids.append(job["id"])
        end = created_at + timedelta(minutes=minutes)
        # Wait until the last slot inside the window has had time to run.
        last_slot = end.replace(second=0, microsecond=0)
        time.sleep(max(0.0, (last_slot - datetime.now(UTC)).total_seconds() + 10))
        floor.stop()
        samples: list[float] = []
        first: list[float] = []
        missing = 0
        for cron_id in ids:
            executions = http(base, "GET", f"/api/cron-jobs/{cron_id}/executions?limit=100", token)
            runs = executions.get("jobs") or executions.get("executions") or []
            slots = sorted(runs, key=lambda job: job["scheduled_at"])
            for index, job in enumerate(slots):
                slot = datetime.fromisoformat(job["scheduled_at"].replace("Z", "+00:00"))
                if slot > last_slot:
                    continue
                if not job.get("started_at"):
                    missing += 1
                    continue
                late = (datetime.fromisoformat(job["started_at"].replace("Z", "+00:00")) - slot).total_seconds()
                samples.append(late)
                if index == 0:
                    first.append(late)
    finally:
        if floor is not None:
            floor.stop()
        stack.stop()
    if not samples:
        raise RuntimeError(f"no cron run started; stack log:\n{log.read_text()[-3000:]}")
    base_samples = floor.lateness if floor else []
    window = f"{crons} crons x {minutes:g} min: {len(samples)} runs"
    steady = [s for s in samples if s not in first]
    return [
        Row(
            "4 firing lateness p50, embedded stack",
            "s",
            median(samples),
            median(base_samples) if base_samples else None,
            "bare SQS delay+poll",
            note=f"{window}, {missing} slots never started; first slot of each cron (queued at creation): "
            f"p50 {median(first):.2f} s, max {max(first):.2f} s; later slots p99 {percentile(steady, 99):.2f} s",
            extra={"samples": samples, "baseline_samples": base_samples, "missing": missing},
        ),
        Row(
            "4 firing lateness p99, embedded stack",
            "s",
            percentile(samples, 99),
            percentile(base_samples, 99) if base_samples else None,
            "bare SQS delay+poll",
            Target("ours", "<=", 2.0),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("lateness", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
