"""AWS API calls for one job's life (schedule -> completed), counted at the botocore layer.

    .venv/bin/python -m bench.requests_per_job [--jobs 50]

Runs against moto in-process through the real API route and the real Lambda worker function;
counts every request botocore sends, by service and operation, and reports calls per job.
The baseline in the same run is the minimum a queue-backed design needs: put the job, send
the message, receive it, delete it (4 calls).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("TICKWORK_JWT_SECRET", "bench-secret-0123456789abcdef0123456789abcdef")

import boto3
from chalice.test import Client
from moto import mock_aws

BASELINE_CALLS_PER_JOB = 4


class RequestCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def attach(self, session: boto3.session.Session) -> None:
        session.events.register("before-call.*.*", self)


def register_noop() -> str:
    """A handler that reports no progress: the issue counts a job's life without progress calls."""
    from chalicelib import runtime
    from chalicelib.jobs.base import BaseJobHandler

    class Noop(BaseJobHandler):
        def execute(self) -> dict[str, bool]:
            return {"ok": True}

    runtime.registry.register("plugin:bench:noop", Noop)
    return "plugin:bench:noop"


def run(jobs: int, job_type: str, payload: str) -> dict[str, Any]:
    with mock_aws():
        import app as app_module
        from chalicelib import runtime
        from chalicelib.auth import Role, mint_token
        from chalicelib.config import Settings, queue_name
        from chalicelib.lifecycle import PRIORITY_ORDER
        from chalicelib.local_runner import QueuePoller
        from chalicelib.provision import provision
        from chalicelib.runtime import Runtime

        settings = Settings.from_env()
        session = boto3.session.Session(region_name="us-east-1")
        provision(session, settings)
        counter = RequestCounter()
        counter.attach(session)
        runtime.use(Runtime(settings=settings, session=session))
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
        client = Client(app_module.app)
        admin = mint_token(settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        # Warm-up: one job, so per-container lookups (GetQueueUrl, secret) are not billed per job.
        body = f'{{"type":"{job_type}","storeId":"s","payload":{payload}}}'
        client.http.post("/api/background-jobs/schedule", headers=headers, body=body)
        poller.drain()
        counter.calls.clear()
        for _ in range(jobs):
            answer = client.http.post("/api/background-jobs/schedule", headers=headers, body=body)
            assert answer.status_code == 201
        scheduled = Counter(counter.calls)
        # One job at a time through the worker: Lambda's receive and delete are billed too.
        while poller.poll_once():
            pass
        runtime.use(None)
        total = sum(counter.calls.values())
        return {
            "jobs": jobs,
            "calls": dict(sorted(counter.calls.items())),
            "schedule_calls": sum(scheduled.values()),
            "total": total,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    noop = register_noop()
    for title, job_type, payload in (
        ("no progress reports (plugin:bench:noop)", noop, "{}"),
        ("the guide's import job, 1 item (progress 10, 50, 100)", "plugin:my-plugin:import", '{"count":1}'),
    ):
        report = run(args.jobs, job_type, payload)
        jobs = report["jobs"]
        print(f"AWS requests per job, schedule -> completed, {title}; {jobs} jobs, moto in-process:")
        for name, count in report["calls"].items():
            print(f"  {name:40s} {count:6d}  ({count / jobs:.2f}/job)")
        per_job = report["total"] / jobs
        print(f"  {'total':40s} {report['total']:6d}  ({per_job:.2f}/job)")
        print(
            f"  baseline (put + send + receive + delete): {BASELINE_CALLS_PER_JOB}/job; "
            f"ratio {per_job / BASELINE_CALLS_PER_JOB:.2f}\n"
        )


if __name__ == "__main__":
    main()
