"""What every benchmark shares: result rows with their target, the table, an in-process moto stack.

A bench module defines ``add_arguments(parser)`` and ``measure(args) -> list[Row]`` and ends with
``run_cli(...)``: ``python -m bench.<name> [--quick] [--json PATH]`` prints its rows and, with
--json, writes them for ``python -m bench`` to gather into one table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def bench_environment() -> None:
    """Fake credentials and a fixed region, set before anything imports boto3 or app."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    os.environ.setdefault("TICKWORK_JWT_SECRET", "bench-secret-0123456789abcdef0123456789abcdef")


# --- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a row must meet. ``on``: "ours" (absolute) or "ratio" (ours / baseline)."""

    on: str
    op: str  # "<=" or ">="
    value: float

    def met(self, ours: float, ratio: float | None) -> bool:
        subject = ours if self.on == "ours" else ratio
        if subject is None:
            return False
        return subject <= self.value if self.op == "<=" else subject >= self.value

    def text(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.value:g}"
        return f"{self.op} {self.value:g} {unit}".strip()


@dataclass
class Row:
    figure: str
    unit: str
    ours: float
    baseline: float | None = None
    baseline_label: str = ""
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ours, self.ratio)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = self.target.text(self.unit) if self.target else None
        out["ratio"] = self.ratio
        out["passed"] = self.passed
        return out


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


COLUMNS = ("figure", "ours", "baseline", "ratio", "target", "pass")


def table(rows: list[dict[str, Any]]) -> str:
    """One fixed-width table from row dicts (Row.to_json shape); notes follow, numbered."""
    lines: list[list[str]] = []
    notes: list[str] = []
    for row in rows:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[row["passed"]]
        baseline = "-" if row["baseline"] is None else f"{fmt(row['baseline'])} {row['baseline_label']}".strip()
        figure = f"{row['figure']} ({row['unit']})" if row["unit"] else row["figure"]
        if row.get("note"):
            notes.append(row["note"])
            figure += f" [{len(notes)}]"
        lines.append([figure, fmt(row["ours"]), baseline, fmt(row["ratio"]), row["target"] or "-", verdict])
    widths = [max([len(COLUMNS[i]), *(len(line[i]) for line in lines)]) for i in range(len(COLUMNS))]
    out = [" | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(out)


def run_cli(
    name: str,
    doc: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    measure: Callable[[argparse.Namespace], list[Row]],
    argv: list[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, seconds")
    parser.add_argument("--json", type=Path, help="write the rows here (python -m bench gathers them)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    rows = measure(args)
    data = [row.to_json() for row in rows]
    print(table(data), flush=True)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    return 0


# --- timing --------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): with few samples p99 is the worst one."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


# --- AWS requests --------------------------------------------------------------------------


class RequestCounter:
    """Counts (and times) every request botocore sends through one session, by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0

    def attach(self, session: Any) -> None:
        # before-call .. after-call spans serialising, moto's handling and parsing: the AWS side.
        session.events.register("before-call.*.*", self._start)
        session.events.register("after-call.*.*", self._stop_timer)

    def _start(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1
        if context is not None:
            context["bench_started"] = time.perf_counter()

    def _stop_timer(
        self, model: Any, parsed: dict[str, Any] | None = None, context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if context is not None and "bench_started" in context:
            self.seconds += time.perf_counter() - context.pop("bench_started")
        if model.name == "ReceiveMessage" and not (parsed or {}).get("Messages"):
            # An empty poll is the local poller's (or Lambda's idle poller's) cost, not a job's.
            self.calls["sqs.ReceiveMessage"] -= 1
            self.calls["sqs.ReceiveMessage(empty)"] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class MotoStack:
    """moto in-process: provisioned tables and queues, the app's runtime, a Lambda-like poller."""

    app: Any
    runtime: Any
    session: Any
    poller: Any
    counter: RequestCounter
    settings: Any

    def purge_queues(self) -> None:
        """Empty the job queues between rounds (moto slows as a queue fills)."""
        sqs = self.session.client("sqs")
        for url in self.poller._urls.values():
            sqs.purge_queue(QueueUrl=url)


@contextmanager
def moto_stack(settings: Any = None, clock: Any = None) -> Iterator[MotoStack]:
    """The real app on moto in-process; the runtime is reset on the way out (tests share it)."""
    bench_environment()
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # moto's switch for AWS's one-purge-a-minute rule: benches empty queues after every round.
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    import boto3
    from moto import mock_aws

    with mock_aws():
        import app as app_module
        from chalicelib import runtime
        from chalicelib.aws.provision import provision
        from chalicelib.config import Settings, queue_name
        from chalicelib.jobs.lifecycle import PRIORITY_ORDER
        from chalicelib.runtime import Runtime
        from devstack.moto_lock import serialize_moto_requests
        from devstack.pollers import QueuePoller

        serialize_moto_requests()
        settings = settings or Settings.from_env()
        session = boto3.session.Session(region_name="us-east-1")
        provision(session, settings)
        counter = RequestCounter()
        counter.attach(session)
        rt = Runtime(settings=settings, session=session, clock=clock)
        runtime.use(rt)
        sqs = session.client("sqs")
        urls = {
            p: sqs.get_queue_url(QueueName=queue_name(settings.queue_prefix, p.value))["QueueUrl"]
            for p in PRIORITY_ORDER
        }
        poller = QueuePoller(
            sqs=sqs,
            queue_urls=urls,
            workers={p: app_module.WORKERS[p.value] for p in PRIORITY_ORDER},
            region="us-east-1",
            receive_visibility_s=settings.lease_s,
        )
        try:
            yield MotoStack(
                app=app_module, runtime=rt, session=session, poller=poller, counter=counter, settings=settings
            )
        finally:
            runtime.use(None)


def register_handler(name: str, handler: type) -> str:
    from chalicelib import runtime

    runtime.registry.register(name, handler)
    return name


def noop_type() -> str:
    """A handler that does nothing and reports nothing: a job's life is counted without progress."""
    from chalicelib.jobs.base import BaseJobHandler

    class BenchNoop(BaseJobHandler):
        def execute(self) -> dict[str, bool]:
            return {"ok": True}

    return register_once("plugin:bench:noop", BenchNoop)


_registered: dict[str, type] = {}


def register_once(name: str, handler: type) -> str:
    # The registry refuses a second class under one name; a test run may call this repeatedly.
    if name not in _registered:
        _registered[name] = handler
        register_handler(name, handler)
    return name


JOB_WAVE = 10  # jobs queued at a time: SQS stays short (moto slows as a queue fills)


def run_job_lives(stack: MotoStack, job_type: str, payload: str, jobs: int, *, measure_from: Any) -> None:
    """``jobs`` jobs scheduled over HTTP and run by the worker, in waves; ``measure_from()`` is
    called once a warm-up job has finished, so that per-container lookups (GetQueueUrl) and
    its writes are not billed to the measured jobs."""
    from chalice.test import Client

    from chalicelib.auth import Role, mint_token

    client = Client(stack.app.app)
    admin = mint_token(stack.settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    body = f'{{"type":"{job_type}","storeId":"s","payload":{payload}}}'
    warm = client.http.post("/api/background-jobs/schedule", headers=headers, body=body).json_body["job"]["id"]
    # Until it is finished: a drain can return before the poller has received it.
    while stack.runtime.store.get(warm).status.value != "completed":
        stack.poller.drain()
    measure_from()
    done = 0
    while done < jobs:
        wave = min(JOB_WAVE, jobs - done)
        for _ in range(wave):
            answer = client.http.post("/api/background-jobs/schedule", headers=headers, body=body)
            assert answer.status_code == 201, answer.body
        stack.poller.drain()
        done += wave
