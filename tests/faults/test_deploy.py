"""A deploy while jobs run: the API process and every worker process killed and replaced."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from chalicelib.jobs.lifecycle import JobStatus
from devstack.stack import free_port
from tests.conftest import token
from tests.faults import kit
from tests.faults.conftest import REPO, ServerStack
from tests.faults.report import record


class ApiProcess:
    """``python -m devstack`` serving only the API (no pollers, no tick) on the shared moto."""

    def __init__(self, env: dict[str, str], port: int, state_dir: Path) -> None:
        self.env = {
            **env,
            "TICKWORK_STATE_DIR": str(state_dir),
            "TICKWORK_PLUGINS_PACKAGE": "tests.faults.stack_plugins",
        }
        self.log_dir = state_dir.parent
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log_dir / f"api-{self.starts}.err", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devstack", "--port", str(self.port), "--no-workers", "--no-tick"],
                cwd=REPO,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def post_until_answered(port: int, path: str, body: dict[str, Any], tok: str, timeout_s: float = 90) -> dict[str, Any]:
    """What a careful client does: the same request (same idempotency key) until it is answered."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
        method="POST",
    )
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError:
            raise  # an answer, not an outage
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert time.monotonic() < end, "the API never came back"
            time.sleep(0.2)


def test_a_deploy_killing_the_api_and_every_worker_loses_nothing(
    server_stack: ServerStack, size: int, tmp_path: Path
) -> None:
    stack = server_stack
    api = ApiProcess(stack.workers.env, free_port(), tmp_path / "state")
    api.start()
    admin = token("admin")
    # Killed between a receive and its first visibility change, a worker would hide that
    # message for the queue's 90 minutes. On AWS a deploy replaces functions, not Lambda's
    # poller, so no message is caught there; here the poller dies too, so it receives shorter.
    stack.workers.env["TICKWORK_FAULT_RECEIVE_VISIBILITY_S"] = "15"
    stack.workers.start(2, "normal")
    acknowledged: list[str] = []
    try:
        for n in range(size):
            if n == size // 3:
                api.kill()  # the API is redeployed mid-stream
                api.start()
            if n == 2 * size // 3:
                stack.workers.kill_all()  # so are the workers, with jobs running
                stack.workers.start(2, "normal")
            answer = post_until_answered(
                api.port,
                "/api/background-jobs/schedule",
                {
                    "type": "plugin:fault-kit:effect",
                    "storeId": "store-f",
                    "payload": {"work_s": 0.3},
                    "idempotency_key": f"deploy-{n}",
                },
                admin,
            )
            acknowledged.append(answer["job"]["id"])
        stack.until(lambda: stack.count_in(JobStatus.COMPLETED) == size, 60 + size)
    finally:
        api.stop()
    jobs = [stack.runtime.store.get(job_id) for job_id in acknowledged]
    completed = Counter(job_id for event, job_id in stack.journal() if event == "completed")
    effects = kit.effects_by_job(stack.session)
    record(
        f"deploy (size {size}: API and workers killed mid-run)",
        acknowledged=len(set(acknowledged)),
        completed=sum(1 for job in jobs if job and job.status == JobStatus.COMPLETED),
        lost=sum(1 for job in jobs if job is None or job.status != JobStatus.COMPLETED),
        completed_twice=sum(1 for n in completed.values() if n > 1),
        rerun_after_kill=sum(1 for job in jobs if job and job.attempts > 1),
        effects_applied=sum(effects.values()),
        api_starts=api.starts,
        worker_starts=stack.workers.started,
    )
    assert len(set(acknowledged)) == size
    assert all(job is not None and job.status == JobStatus.COMPLETED for job in jobs)
    assert all(n == 1 for n in completed.values())
    assert [effects.get(job_id, 0) for job_id in acknowledged] == [1] * size
