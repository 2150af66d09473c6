"""Peak RSS of a worker invocation (the guide's import job, 10,000 items) and of the API process.

    .venv/bin/python -m bench.memory [--items 10000] [--requests 100] [--quick]

moto runs as a server in this process; each measured function is a fresh interpreter that
talks to it over HTTP, as a Lambda container talks to AWS (moto in-process would count moto's
own memory). The worker child receives the job's message and calls ``app.worker_normal`` once
with Lambda's SQS event; the API child serves schedule, status, list and cron requests through
the app. Peak RSS is the child's ru_maxrss. Baseline: a child that imports boto3 and chalice,
makes a DynamoDB and an SQS client and calls each once - the floor of any function here.
Target: at most 128 MB, the smallest Lambda size this design should run in.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import Row, Target, bench_environment, run_cli

bench_environment()

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_MB = 128


def peak_rss_mb() -> float:
    """This process's high-water RSS. Not ru_maxrss: Linux carries that across execve, so a
    child would report its parent's peak (moto and all) until it outgrew it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_baseline() -> dict[str, Any]:
    import boto3
    import chalice  # noqa: F401 - the import is the point

    from chalicelib.config import Settings

    settings = Settings.from_env()
    session = boto3.session.Session(region_name=settings.region)
    session.resource("dynamodb").Table(settings.jobs_table).get_item(Key={"id": "none"})
    session.client("sqs").list_queues()
    return {"peak_mb": peak_rss_mb()}


def child_worker(job_id: str) -> dict[str, Any]:
    import boto3

    import app
    from chalicelib import runtime
    from chalicelib.config import Settings, queue_name
    from devstack.pollers import LambdaContext, sqs_event

    settings = Settings.from_env()
    sqs = boto3.session.Session(region_name=settings.region).client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name(settings.queue_prefix, "normal"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=120, WaitTimeSeconds=1)
    event = sqs_event(messages["Messages"], arn, settings.region)
    answer = app.worker_normal(event, LambdaContext(function_name="tickwork-worker_normal", timeout_s=900))
    job = runtime.current().store.get(job_id)
    assert job is not None
    return {"peak_mb": peak_rss_mb(), "failures": answer["batchItemFailures"], "status": job.status.value}


def child_api(requests: int) -> dict[str, Any]:
    from chalice.test import Client

    import app
    from chalicelib.auth import Role, mint_token

    token = mint_token(os.environ["TICKWORK_JWT_SECRET"], role=Role.ADMIN, subject="bench")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    client = Client(app.app)
    statuses: set[int] = set()
    body = json.dumps({"type": "plugin:my-plugin:import", "storeId": "mem", "payload": {"count": 5}})
    for n in range(requests):
        job = client.http.post("/api/background-jobs/schedule", headers=headers, body=body)
        job_id = job.json_body["job"]["id"]
        statuses |= {
            job.status_code,
            client.http.get(f"/api/background-jobs/{job_id}/status", headers=headers).status_code,
        }
        if n % 10 == 0:
            statuses.add(client.http.get("/api/background-jobs?store_id=mem&limit=50", headers=headers).status_code)
            cron = {
                "name": f"mem {n}",
                "cron_expression": "*/5 * * * *",
                "job_type": "plugin:my-plugin:import",
                "store_id": "mem",
                "configuration": {"count": 1},
            }
            statuses.add(client.http.post("/api/cron-jobs", headers=headers, body=json.dumps(cron)).status_code)
            statuses.add(client.http.get("/api/cron-jobs?store_id=mem", headers=headers).status_code)
    return {"peak_mb": peak_rss_mb(), "statuses": sorted(statuses)}


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000, help="items the import job imports")
    parser.add_argument("--requests", type=int, default=100, help="schedule+status pairs the API child serves")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)


def measure(args: argparse.Namespace) -> list[Row]:
    import boto3
    from moto.server import ThreadedMotoServer

    from devstack.moto_lock import serialize_moto_requests
    from devstack.stack import free_port

    items, requests = (1000, 10) if args.quick else (args.items, args.requests)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    serialize_moto_requests()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        from chalicelib import runtime
        from chalicelib.auth import SYSTEM_PRINCIPAL
        from chalicelib.aws.provision import provision
        from chalicelib.config import Settings
        from chalicelib.jobs.model import ScheduleJobRequest

        settings = Settings.from_env()
        provision(boto3.session.Session(region_name=settings.region), settings)
        import app  # noqa: F401 - registers the guide's import type

        request = ScheduleJobRequest.model_validate(
            {"type": "plugin:my-plugin:import", "storeId": "mem", "payload": {"count": items}}
        )
        job = runtime.current().jobs.schedule(request, SYSTEM_PRINCIPAL).job
        env = dict(os.environ)
        worker = run_child(["worker", job.id], env)
        api = run_child(["api", str(requests)], env)
        base = run_child(["baseline"], env)
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        server.stop()
    if worker["status"] != "completed" or worker["failures"]:
        raise RuntimeError(f"the import job did not complete: {worker}")
    if api["statuses"] != [200, 201]:
        raise RuntimeError(f"the API child got statuses {api['statuses']}")
    return [
        Row(
            f"7 peak RSS, worker invocation: guide's import job, {items:,} items",
            "MB",
            worker["peak_mb"],
            base["peak_mb"],
            "boto3+chalice+2 clients",
            Target("ours", "<=", LAMBDA_MB),
        ),
        Row(
            f"7 peak RSS, API process after {requests * 2 + requests // 5 * 3} requests",
            "MB",
            api["peak_mb"],
            base["peak_mb"],
            "boto3+chalice+2 clients",
            Target("ours", "<=", LAMBDA_MB),
            note="the API child serves through chalice.test.Client, which this figure includes",
        ),
    ]


def child_main(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "baseline":
        out = child_baseline()
    elif kind == "worker":
        out = child_worker(rest[0])
    else:
        out = child_api(int(rest[0]))
    print(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    return run_cli("memory", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
