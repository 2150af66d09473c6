"""API requests/s: GET /api/background-jobs/{id}/status against Chalice's bare hello route.

    .venv/bin/python -m bench.api_rps [--requests 300] [--seconds 3] [--rounds 3] [--quick]

The embedded stack in this process, as ``make run`` builds it: moto's server on loopback,
provisioned tables and queues, the app on Chalice's local server (tuned, as devstack.stack
serves it). A bare ``{"hello": "world"}`` route is added to the same app and server as the
baseline. Each is measured over ONE keep-alive connection (a reconnect is counted and fails
the run), alternating rounds, each stopping at --requests or --seconds. The status route
checks the token, reads the job from DynamoDB (moto over HTTP) and masks the response.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import sys
import threading
import time
from typing import Any

from bench.common import Row, bench_environment, run_cli

bench_environment()

HELLO = "/bench-hello"


def rate(port: int, path: str, headers: dict[str, str], max_requests: int, max_seconds: float) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:

        def get() -> None:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")

        for _ in range(5):
            get()
        sock, done = conn.sock, 0
        started = time.perf_counter()
        while done < max_requests and time.perf_counter() - started < max_seconds:
            get()
            done += 1
            if conn.sock is not sock:
                raise RuntimeError("the server closed the keep-alive connection")
        return done / (time.perf_counter() - started)
    finally:
        conn.close()


def get_item_rate(table: Any, job_id: str, max_requests: int, max_seconds: float) -> float:
    done, started = 0, time.perf_counter()
    while done < max_requests and time.perf_counter() - started < max_seconds:
        table.get_item(Key={"id": job_id}, ConsistentRead=True)
        done += 1
    return done / (time.perf_counter() - started)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=300, help="requests per round (at most)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per round (at most)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each, alternating")


def measure(args: argparse.Namespace) -> list[Row]:
    import boto3
    from chalice import local as chalice_local

    from chalicelib import runtime
    from chalicelib.auth import Role, mint_token
    from chalicelib.aws.provision import provision
    from chalicelib.config import Settings
    from devstack import stack

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The access log line per request (stderr) would be measured too: this process only.
    chalice_local.ChaliceRequestHandler.log_message = lambda *args, **kwargs: None  # type: ignore[method-assign]
    max_requests, seconds, rounds = (50, 1.0, 1) if args.quick else (args.requests, args.seconds, args.rounds)
    moto = stack.prepare_environment(None)
    server: Any = None
    try:
        settings = Settings.from_env()
        provision(boto3.session.Session(region_name=settings.region), settings)
        runtime.use(None)
        import app as app_module

        app_obj = app_module.app
        if not any(HELLO in route for route in app_obj.routes):

            @app_obj.route(HELLO)
            def bench_hello() -> dict[str, str]:
                return {"hello": "world"}

        port = stack.free_port()
        server = stack.build_http_server(app_obj, "127.0.0.1", port)
        threading.Thread(target=server.server.serve_forever, name="bench-http", daemon=True).start()
        token = mint_token(settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
        headers = {"Authorization": f"Bearer {token}"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"type": "plugin:my-plugin:import", "storeId": "s", "payload": {"count": 1}})
        conn.request(
            "POST",
            "/api/background-jobs/schedule",
            body=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        answer = conn.getresponse()
        job_id = json.loads(answer.read())["job"]["id"]
        conn.close()
        status_path = f"/api/background-jobs/{job_id}/status"
        table = boto3.session.Session(region_name=settings.region).resource("dynamodb").Table(settings.jobs_table)
        ours: list[float] = []
        base: list[float] = []
        reads: list[float] = []
        for _ in range(rounds):
            ours.append(rate(port, status_path, headers, max_requests, seconds))
            base.append(rate(port, HELLO, {}, max_requests, seconds))
            reads.append(get_item_rate(table, job_id, max_requests, seconds))
    finally:
        if server is not None:
            server.shutdown()
            server.server.server_close()
        if moto is not None:
            moto.stop()
        runtime.use(None)
    return [
        Row(
            "6 API GET .../{id}/status, one keep-alive connection",
            "req/s",
            sum(ours) / len(ours),
            sum(base) / len(base),
            "bare hello route",
            note="embedded stack: the status route reads the job from moto's server over HTTP; no target",
            extra={"ours": ours, "baseline": base},
        ),
        Row(
            "6 reference: bare boto3 GetItem of that job, same moto server",
            "req/s",
            sum(reads) / len(reads),
            sum(base) / len(base),
            "bare hello route",
            note="the status route's one AWS call alone, from this process: most of the route's time",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("api_rps", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
