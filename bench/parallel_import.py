"""Parallel import: the guide's import of 10,000 items as one job, against the same import split
into chunks that run as the children of one batch.

    .venv/bin/python -m bench.parallel_import [--items 10000] [--chunk 500] [--item-ms 1] [--quick]

The real app and worker on moto in-process, fed by the local Lambda pollers (real threads, real
time; 10 concurrent invocations of up to 10 records each, as bench.noisy_neighbour runs them).
Each item costs ``--item-ms`` of simulated latency (the external system the guide's import
calls), so the serial import takes about items x item-ms plus its progress and checkpoint
writes. Serial: one ``plugin:my-plugin:import`` job, timed from its schedule to its completion.
Parallel: one ``plugin:my-plugin:parallel-import`` job, timed from its schedule to the
completion of the batch's on_complete (``plugin:my-plugin:import-summary``), which adds up every
chunk's counts: the import is over when that summary exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
from typing import Any

from bench.common import MotoStack, Row, Target, bench_environment, moto_stack, run_cli

bench_environment()

INVOCATIONS = 10


def _wait_for(stack: MotoStack, job_id: str, deadline: float) -> Any:
    from chalicelib.jobs.lifecycle import is_terminal

    while time.monotonic() < deadline:
        job = stack.runtime.store.get(job_id)
        if job is not None and is_terminal(job.status):
            return job
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} did not finish in time")


def run(stack: MotoStack, *, parallel: bool, items: int, chunk: int, item_ms: float) -> dict[str, Any]:
    from chalice.test import Client

    from chalicelib.auth import Role, mint_token
    from chalicelib.batches.model import Callback, callback_id

    client = Client(stack.app.app)
    admin = mint_token(stack.settings.jwt_secret or "", role=Role.ADMIN, subject="bench")
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    if parallel:
        body = {
            "type": "plugin:my-plugin:parallel-import",
            "storeId": "bench",
            "payload": {"count": items, "chunk_size": chunk, "item_ms": item_ms},
        }
    else:
        body = {"type": "plugin:my-plugin:import", "storeId": "bench", "payload": {"count": items, "item_ms": item_ms}}
    stop = threading.Event()
    poller = threading.Thread(target=stack.poller.run, args=(stop, INVOCATIONS), daemon=True)
    poller.start()
    started = time.monotonic()
    deadline = started + 900
    answer = client.http.post("/api/background-jobs/schedule", headers=headers, body=json.dumps(body))
    assert answer.status_code == 201, answer.body
    job = _wait_for(stack, answer.json_body["job"]["id"], deadline)
    result: dict[str, Any] = {}
    if parallel:
        assert job.result and job.result.get("batch_id"), job
        summary = _wait_for(stack, callback_id(job.result["batch_id"], Callback.ON_COMPLETE), deadline)
        result = summary.result or {}
    else:
        result = job.result or {}
    elapsed = time.monotonic() - started
    stop.set()
    poller.join(timeout=30)
    assert result.get("successful") == items, result
    return {"seconds": elapsed, "result": result}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--item-ms", type=float, default=1.0)


def measure(args: argparse.Namespace) -> list[Row]:
    from chalicelib.config import Settings

    items = 1_000 if args.quick else args.items
    chunk = 100 if args.quick else args.chunk
    # Ten records of a batch at once, as bench.noisy_neighbour runs them; no rate limit in the way.
    settings = dataclasses.replace(Settings.from_env(), record_concurrency=10, max_jobs_per_minute_per_store=0)
    with moto_stack(settings=settings) as stack:
        serial = run(stack, parallel=False, items=items, chunk=chunk, item_ms=args.item_ms)
    with moto_stack(settings=settings) as stack:
        parallel = run(stack, parallel=True, items=items, chunk=chunk, item_ms=args.item_ms)
    chunks = -(-items // chunk)
    return [
        Row(
            f"14 parallel import of {items:,} items: schedule to summary",
            "s",
            parallel["seconds"],
            serial["seconds"],
            "one serial import job",
            Target("ratio", "<=", 0.5),
            note=f"{chunks} chunks of {chunk} as one batch, {args.item_ms:g} ms an item simulated, "
            f"{INVOCATIONS} invocations of up to 10 records at once, store cap {settings.store_max_running}; "
            "the parallel time includes the splitting job, the batch's creation and the on_complete summary",
            extra={"serial": serial, "parallel": parallel, "chunks": chunks},
        )
    ]


if __name__ == "__main__":
    raise SystemExit(run_cli("parallel_import", __doc__ or "", add_arguments, measure))
