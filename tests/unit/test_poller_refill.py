"""Under a backlog, a finished invocation takes the next batch itself, not through the poller's loop."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.jobs.lifecycle import Priority
from devstack.pollers import QueuePoller

BATCHES = 5
URL = "http://sqs/normal"


class BacklogSqs:
    """A queue of BATCHES one-message batches; the poller's own loop gets its first receive only."""

    def __init__(self, loop_thread: str) -> None:
        self._loop_thread = loop_thread
        self._lock = threading.Lock()
        self._left = BATCHES
        self._loop_receives = 0
        self.release_loop = threading.Event()

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:normal"}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        if threading.current_thread().name == self._loop_thread:
            self._loop_receives += 1
            if self._loop_receives > 1:
                self.release_loop.wait()  # the loop is stuck; only invocations can go on
        with self._lock:
            if self._left == 0:
                return {}
            self._left -= 1
            n = self._left
        return {"Messages": [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": "{}"}]}

    def delete_message_batch(self, **_: Any) -> dict[str, Any]:
        return {}


def test_an_invocation_receives_the_next_batch_itself() -> None:
    sqs = BacklogSqs(loop_thread="poller-loop")
    handled: list[str] = []
    all_handled = threading.Event()

    def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        handled.extend(record["messageId"] for record in event["Records"])
        if len(handled) == BATCHES:
            all_handled.set()
        return {}

    poller = QueuePoller(
        sqs=sqs,
        queue_urls={Priority.NORMAL: URL},
        workers={Priority.NORMAL: worker},
        region="us-east-1",
        receive_visibility_s=60,
    )
    stop = threading.Event()
    loop = threading.Thread(target=poller.run, args=(stop, 2), name="poller-loop", daemon=True)
    loop.start()
    try:
        assert all_handled.wait(timeout=10), f"only {handled} handled while the poller's loop was busy"
    finally:
        stop.set()
        sqs.release_loop.set()
        loop.join(timeout=5)
    assert sorted(handled) == sorted(f"m{n}" for n in range(BATCHES))
