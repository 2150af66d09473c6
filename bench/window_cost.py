"""What a debounced or deduplicated schedule costs: AWS requests and DynamoDB write units per request.

    .venv/bin/python -m bench.window_cost [--schedules 50] [--quick]

Runs the real API route against moto in-process, counts every request botocore sends (as
``bench/requests_per_job.py`` does) and the write units DynamoDB would bill for each write (as
``bench/write_units.py`` does, indexes included). Each figure is per schedule request, on the
API side only: the run that follows is an ordinary job life.

- Plain schedule: put the job, send its message (and the per-store rate-limit counter, one
  ``ADD`` per ten requests at the default limit). The baseline of the others.
- Debounce, opening a window: a consistent GetItem of the window item (absent), the job and the
  window item in one TransactWriteItems (twice the units of two puts), the message.
- Debounce, collapsing: the GetItem of the window item and one conditional UpdateItem of the
  job (payload and due time). No message: the first one is hidden again until the quiet moment.
- Dedup, repeated: a consistent GetItem of the window item (open) and one of the first job; no
  write. Opening a dedup window costs what opening a debounce window does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.common import MotoStack, Row, bench_environment, moto_stack, noop_type, run_cli
from bench.write_units import WriteMeter, metered

bench_environment()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schedules", type=int, default=50, help="schedule requests per measurement")


def post(stack: MotoStack, client: Any, headers: dict[str, str], body: dict[str, Any], expected: int) -> None:
    answer = client.http.post("/api/background-jobs/schedule", headers=headers, body=json.dumps(body))
    assert answer.status_code == expected, answer.body


def per_request(stack: MotoStack, meter: WriteMeter, requests: int) -> tuple[float, float, dict[str, float]]:
    calls = {name: n / requests for name, n in sorted(stack.counter.calls.items()) if n}
    return stack.counter.total / requests, meter.cost.total / requests, calls


def measure(args: argparse.Namespace) -> list[Row]:
    from chalice.test import Client

    from chalicelib.auth import Role, mint_token

    n = 5 if args.quick else args.schedules
    rows: list[Row] = []
    with moto_stack() as stack:
        meter = metered(stack)
        client = Client(stack.app.app)
        admin = mint_token(stack.settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        job_type = noop_type()
        base = {"type": job_type, "storeId": "s", "payload": {"product": 1, "fields": ["price", "stock"]}}
        post(stack, client, headers, base, 201)  # warm-up: queue URLs, the minute's counter

        def measured(label: str, bodies: list[tuple[dict[str, Any], int]]) -> tuple[float, float, dict[str, float]]:
            stack.counter.reset()
            meter.reset()
            for body, expected in bodies:
                post(stack, client, headers, body, expected)
            figures = per_request(stack, meter, len(bodies))
            stack.purge_queues()
            return figures

        plain = measured("plain", [(base, 201)] * n)
        opening = measured(
            "opening",
            [({**base, "debounce": {"key": f"open-{i}", "seconds": 5}}, 201) for i in range(n)],
        )
        post(stack, client, headers, {**base, "debounce": {"key": "burst", "seconds": 900}}, 201)
        collapsing = measured(
            "collapsing",
            [({**base, "payload": {"n": i}, "debounce": {"key": "burst", "seconds": 900}}, 200) for i in range(n)],
        )
        post(stack, client, headers, {**base, "dedup": {"key": "again", "seconds": 600}}, 201)
        repeated = measured("dedup", [({**base, "dedup": {"key": "again", "seconds": 600}}, 200)] * n)

    for name, (requests, units, calls) in (
        ("plain schedule", plain),
        ("debounced schedule, opening a window", opening),
        ("debounced schedule, collapsing", collapsing),
        ("dedup schedule, repeated", repeated),
    ):
        note = ", ".join(f"{op} {count:.2f}" for op, count in calls.items())
        rows.append(Row(f"requests per {name}", "req", requests, plain[0], "plain schedule", note=note))
        rows.append(Row(f"write units per {name}", "WRU", units, plain[1], "plain schedule"))
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_cli("window_cost", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
