"""The embedded stack's pollers run each queue with the invocations its event source has on AWS:
a flood of low jobs holding every low invocation leaves urgent work its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import tests.handlers as handlers
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority
from deploy.concurrency import MAXIMUM_CONCURRENCY
from devstack.pollers import RECEIVE_BATCH, start_queue_pollers
from tests.conftest import Stack, token

WAIT_S = 10


class InvocationCount:
    """Wraps a worker function: how many of its invocations run at once, and the most ever."""

    def __init__(self, function: Callable[[dict[str, Any], Any], Any]) -> None:
        self._function = function
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self._function(event, context)
        finally:
            with self._lock:
                self.running -= 1


def test_urgent_starts_while_every_low_invocation_is_busy(stack: Stack) -> None:
    import app as app_module

    admin = token("admin")
    low_limit = MAXIMUM_CONCURRENCY[Priority.LOW]
    # More batches of ten low jobs than its invocations can hold; one store each, so no store cap
    # is what waits.
    lows = [
        stack.schedule(admin, type="plugin:test-kit:silent", storeId=f"store-{n}", priority="low", payload={})
        for n in range(RECEIVE_BATCH * low_limit + 1)
    ]
    for job in lows:
        handlers.gates[job["id"]] = threading.Event()
    urgent = stack.schedule(admin, priority="urgent", payload={"count": 1})

    sqs = stack.session.client("sqs")
    urls = {p: stack.poller._urls[p] for p in PRIORITY_ORDER}
    low_worker = InvocationCount(app_module.WORKERS[Priority.LOW.value])
    workers = {p: app_module.WORKERS[p.value] for p in PRIORITY_ORDER} | {Priority.LOW: low_worker}
    stop = threading.Event()
    threads = start_queue_pollers(
        sqs=sqs, queue_urls=urls, workers=workers, region="us-east-1", receive_visibility_s=30, stop=stop
    )
    try:
        low_started = [job["id"] for job in lows]
        # Every low invocation is held by a job that waits for its gate ...
        assert wait_for(lambda: low_worker.running == low_limit), f"{low_worker.running} low invocations ran"
        # ... and the urgent job runs to the end meanwhile.
        assert wait_for(lambda: stack.job(urgent["id"]).status == "completed"), stack.job(urgent["id"]).status
        assert low_worker.running == low_limit
        assert all(not handlers.gates[job_id].is_set() for job_id in low_started)
    finally:
        stop.set()
        for job in lows:
            handlers.gates[job["id"]].set()
        for thread in threads:
            thread.join(timeout=WAIT_S)
        # The invocations are daemon threads: done before moto goes with the test.
        assert wait_for(lambda: low_worker.running == 0)
    assert low_worker.most == low_limit


def wait_for(condition: Callable[[], bool]) -> bool:
    done = threading.Event()
    for _ in range(WAIT_S * 20):
        if condition():
            return True
        done.wait(0.05)
    return condition()
