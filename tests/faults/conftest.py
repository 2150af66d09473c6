"""The fault suite's world: moto in server mode in its own process, worker processes to kill."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

import tests.faults.kit as kit
from chalicelib import runtime
from chalicelib.auth import SYSTEM_PRINCIPAL
from chalicelib.aws.provision import provision
from chalicelib.config import Settings
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import ScheduleJobRequest
from chalicelib.jobs.shards import SHARD_ATTRIBUTE, shard_keys
from chalicelib.jobs.store import BY_STATUS_INDEX
from chalicelib.runtime import Runtime
from devstack.stack import free_port
from tests.conftest import SECRET

REPO = Path(__file__).resolve().parents[2]
# Short leases so a killed attempt's message comes back in seconds (real SQS time in moto).
LEASE_S = 1


@pytest.fixture
def size(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--size"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.procs", "moto", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready", "moto server did not start"
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def fault_settings() -> Settings:
    return Settings(
        jobs_table="tickwork-jobs",
        queue_prefix="tickwork-",
        backoff_s=(0,),
        lease_s=LEASE_S,
        progress_interval_s=1.0,
        jwt_secret=SECRET,
    )


@dataclass
class Workers:
    """Worker processes: started, killed (SIGKILL) and replaced like Lambda containers."""

    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0
    died: int = 0

    def start(self, count: int = 1, *priorities: str, extra_env: dict[str, str] | None = None) -> None:
        for _ in range(count):
            # Each worker's log goes next to the journal, for a failing run to be read.
            with open(Path(self.env[kit.JOURNAL_ENV]).parent / f"worker-{self.started}.err", "wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.faults.procs", "worker", *priorities],
                        cwd=REPO,
                        env={**self.env, **(extra_env or {})},
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
            self.started += 1

    def replace_dead(self, *priorities: str, extra_env: dict[str, str] | None = None) -> None:
        alive = []
        for proc in self.procs:
            if proc.poll() is None:
                alive.append(proc)
            else:
                self.died += 1
        missing = len(self.procs) - len(alive)
        self.procs = alive
        self.start(missing, *priorities, extra_env=extra_env)

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait(10)
        self.procs = []

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


@dataclass
class ServerStack:
    runtime: Runtime
    session: Any
    endpoint: str
    journal_dir: Path
    workers: Workers

    def until(self, done: Callable[[], bool], timeout_s: float, *priorities: str, every_s: float = 1.0) -> None:
        """Keep the worker fleet at strength (a killed container is replaced) until ``done()``."""
        end = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < end, "not done before the deadline"
            self.workers.replace_dead(*priorities)
            time.sleep(every_s)

    def journal(self) -> list[tuple[str, str]]:
        return kit.read_journals(self.journal_dir)

    def schedule(self, count: int, job_type: str, **fields: Any) -> list[str]:
        """Jobs with fixed ids (from idempotency keys), so the planned kills are the same every run."""
        ids = []
        for n in range(count):
            request = ScheduleJobRequest.model_validate(
                {"type": job_type, "storeId": "store-f", "idempotency_key": f"{job_type}-{n}", **fields}
            )
            ids.append(self.runtime.jobs.schedule(request, SYSTEM_PRINCIPAL).job.id)
        return ids

    def count_in(self, status: JobStatus) -> int:
        """COUNT queries on the status index, one per shard (polled while workers run: keep it cheap)."""
        table = self.session.resource("dynamodb").Table(self.runtime.settings.jobs_table)
        total = 0
        for key in shard_keys(status.value):
            request: dict[str, Any] = {}
            while True:
                page = table.query(
                    IndexName=BY_STATUS_INDEX,
                    KeyConditionExpression="#s = :s",
                    ExpressionAttributeNames={"#s": SHARD_ATTRIBUTE},
                    ExpressionAttributeValues={":s": key},
                    Select="COUNT",
                    **request,
                )
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                request = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        return total

    def queue_depth(self, priority: str = "normal") -> dict[str, int]:
        return self.runtime.queues.depths()[priority]

    def queue_settled(self, priority: str = "normal") -> bool:
        depth = self.queue_depth(priority)
        return depth["visible"] + depth["in_flight"] + depth["delayed"] == 0


@pytest.fixture
def server_stack(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerStack]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    settings = fault_settings()
    session = boto3.session.Session(region_name="us-east-1")
    provision(session, settings)
    kit.create_effects_table(session)
    rt = Runtime(settings=settings, session=session)
    runtime.use(rt)
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "PYTHONPATH": str(REPO),
        "TICKWORK_LEASE_S": str(LEASE_S),
        "TICKWORK_BACKOFF_S": "0",
        "TICKWORK_JOBS_TABLE": settings.jobs_table,
        "TICKWORK_QUEUE_PREFIX": settings.queue_prefix,
        kit.CHILD_ENV: "1",
        kit.JOURNAL_ENV: str(journal_dir),
    }
    workers = Workers(env=env)
    try:
        yield ServerStack(runtime=rt, session=session, endpoint=moto_endpoint, journal_dir=journal_dir, workers=workers)
    finally:
        workers.stop()
        runtime.use(None)
