"""Processes the fault suite starts, kills and restarts.

    python -m tests.faults.procs moto PORT        moto in server mode (conditional writes atomic)
    python -m tests.faults.procs worker [PRIORITY...]   a worker "container" polling the queues

The worker receives with the queue's own visibility timeout, as Lambda's event source does
(not the short lease the embedded stack asks for), and calls the very Lambda handlers
(``app.worker_<priority>``). It journals each completion it recorded, for the suite to count.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

# An idle worker polls again after this long (moto serves every request under one lock).
IDLE_S = 0.2


def run_moto(port: int) -> int:
    from moto.server import ThreadedMotoServer

    from devstack.moto_lock import serialize_moto_requests

    serialize_moto_requests()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def run_worker(priorities: list[str]) -> int:
    import app as app_module
    import tests.faults.kit as kit
    from chalicelib import runtime
    from chalicelib.aws.queues import QUEUE_VISIBILITY_TIMEOUT_S
    from chalicelib.config import queue_name
    from chalicelib.jobs.lifecycle import JobStatus, Priority
    from devstack.pollers import QueuePoller

    rt = runtime.current()
    store = rt.store
    recorded_finish = store.finish

    def finish(job_id: str, **fields: Any) -> Any:
        # A spy on the real conditional write: journals only the writes DynamoDB accepted.
        job = recorded_finish(job_id, **fields)
        if fields.get("status") == JobStatus.COMPLETED:
            kit.journal("completed", job_id)
        return job

    store.finish = finish  # type: ignore[method-assign]
    sqs = rt.client("sqs")
    chosen = [Priority(p) for p in priorities]
    poller = QueuePoller(
        sqs=sqs,
        queue_urls={
            p: sqs.get_queue_url(QueueName=queue_name(rt.settings.queue_prefix, p.value))["QueueUrl"] for p in chosen
        },
        workers={p: app_module.WORKERS[p.value] for p in chosen},
        region=rt.settings.region,
        # Lambda's poller receives with the queue's 90 minutes; a test that kills this process
        # at any instant (the poller too, which no deploy on AWS does) may shorten it.
        receive_visibility_s=int(os.environ.get("TICKWORK_FAULT_RECEIVE_VISIBILITY_S", QUEUE_VISIBILITY_TIMEOUT_S)),
        function_timeout_s=float(os.environ.get("TICKWORK_FAULT_FUNCTION_TIMEOUT_S", "900")),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.is_set():
        try:
            handled = poller.poll_once()
        except kit.SimulatedCrash:
            continue  # that "container" died with its batch; the next poll is a fresh one
        if not handled:
            stop.wait(IDLE_S)
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "moto":
        return run_moto(int(argv[1]))
    if argv[0] == "worker":
        return run_worker(argv[1:] or ["urgent", "high", "normal", "low"])
    raise SystemExit(f"unknown process kind {argv[0]!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
