"""Drives the Lambda worker handlers from real SQS queues on one machine.

It calls the very functions Lambda would (``app.worker_<priority>``) with SQS-shaped events
(each record its own messageId and real receipt handle) and, like Lambda with
ReportBatchItemFailures, deletes every message the handler did not report as failed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.jobs.lifecycle import Priority
from deploy.concurrency import MAXIMUM_CONCURRENCY
from devstack.priority import DEFAULT_AGING_S, polling_order

logger = logging.getLogger("tickwork.local")

# Lambda's SQS poller takes up to 10 messages a batch.
RECEIVE_BATCH = 10
IDLE_SLEEP_MIN_S = 0.02
IDLE_SLEEP_MAX_S = 0.5

WorkerFunction = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers use."""

    function_name: str
    timeout_s: float
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for messages as ReceiveMessage returned them."""
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def scheduled_event(moment: datetime, region: str) -> dict[str, Any]:
    """EventBridge's scheduled event, as Lambda hands it to ``app.tick``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/tickwork-tick"],
        "detail": {},
    }


class QueuePoller:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_urls: Mapping[Priority, str],
        workers: Mapping[Priority, WorkerFunction],
        region: str,
        receive_visibility_s: int,
        function_timeout_s: float = 900,
        aging_s: float = DEFAULT_AGING_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sqs = sqs
        self._urls = dict(queue_urls)
        self._workers = dict(workers)
        self._region = region
        self._visibility = receive_visibility_s
        self._timeout = function_timeout_s
        self._aging = aging_s
        # Queue aging reads this clock: tests that replay a run step by step inject theirs.
        self._monotonic = monotonic
        self._last_polled: dict[Priority, float] = {}
        self._lock = threading.Lock()
        self._arns = {
            p: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for p, url in self._urls.items()
        }

    def poll_once(self) -> int:
        """Run one batch from the first queue (in polling order) that has messages."""
        batch = self._receive()
        if batch is None:
            return 0
        self._dispatch(*batch)
        return len(batch[1])

    def _receive(self) -> tuple[Priority, list[dict[str, Any]]] | None:
        with self._lock:
            # A poller may serve only some of the queues.
            order = [p for p in polling_order(self._monotonic(), self._last_polled, self._aging) if p in self._urls]
        for priority in order:
            with self._lock:
                self._last_polled[priority] = self._monotonic()
            answer = self._sqs.receive_message(
                QueueUrl=self._urls[priority],
                MaxNumberOfMessages=RECEIVE_BATCH,
                # The queue default is 6x the function timeout (for Lambda's sake); a local
                # receive asks for a lease-sized window itself, as the worker would set anyway.
                VisibilityTimeout=self._visibility,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if messages:
                return priority, messages
        return None

    def _dispatch(self, priority: Priority, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, self._arns[priority], self._region)
        context = LambdaContext(function_name=f"tickwork-worker_{priority.value}", timeout_s=self._timeout)
        try:
            answer = self._workers[priority](event, context) or {}
        except Exception:
            # Lambda treats a raised error as "the whole batch failed": nothing is deleted.
            logger.exception("worker for %s raised; the batch returns after its visibility timeout", priority.value)
            return
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._urls[priority],
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )

    def drain(self, max_batches: int = 1000) -> int:
        """Poll until every queue answers empty; returns the messages handled (tests)."""
        total = 0
        for _ in range(max_batches):
            handled = self.poll_once()
            if not handled:
                return total
            total += handled
        return total

    def run(self, stop: threading.Event, invocations: int = 1) -> None:
        """Poll until ``stop``, with up to ``invocations`` batches running at once.

        Lambda runs a queue's batches in concurrent invocations: one batch holding its message
        until the job's second, or running a long job, holds up no other. Each invocation is a
        daemon thread, as the pollers are: a stop does not wait out a long job (its lease
        brings it back, as a deploy does on Lambda).
        """
        free = threading.Semaphore(invocations)
        idle = IDLE_SLEEP_MIN_S
        while not stop.is_set():
            if not free.acquire(timeout=IDLE_SLEEP_MAX_S):
                continue  # every invocation busy: look at ``stop`` again
            try:
                batch = self._receive()
            except Exception:
                logger.exception("polling failed; retrying")
                batch, idle = None, IDLE_SLEEP_MAX_S
            if batch is None:
                free.release()
                stop.wait(idle)
                idle = min(IDLE_SLEEP_MAX_S, idle * 2)
                continue
            idle = IDLE_SLEEP_MIN_S
            threading.Thread(target=self._invoke, args=(batch, free, stop), name="invocation", daemon=True).start()

    def _invoke(
        self, batch: tuple[Priority, list[dict[str, Any]]], free: threading.Semaphore, stop: threading.Event
    ) -> None:
        """Run the batch, then receive the next one here until a queue answers empty.

        Under a backlog a finished invocation takes its next batch at once, as Lambda's pollers
        do, rather than waiting for this poller's one loop to receive for every free slot in
        turn; when the queues run dry only that loop polls.
        """
        next_batch: tuple[Priority, list[dict[str, Any]]] | None = batch
        try:
            while next_batch is not None:
                try:
                    self._dispatch(*next_batch)
                except Exception:
                    logger.exception("deleting the finished messages of a %s batch failed", next_batch[0].value)
                next_batch = None if stop.is_set() else self._receive()
        except Exception:
            logger.exception("polling failed; the poller's loop goes on")
        finally:
            free.release()


def start_queue_pollers(
    *,
    sqs: Any,
    queue_urls: Mapping[Priority, str],
    workers: Mapping[Priority, WorkerFunction],
    region: str,
    receive_visibility_s: int,
    stop: threading.Event,
    concurrency: Mapping[Priority, int] = MAXIMUM_CONCURRENCY,
) -> list[threading.Thread]:
    """A poller per queue, each running at most ``concurrency[priority]`` batches at once.

    As each queue's event source on AWS: no pool shared across the queues, so a flood of low
    jobs never holds the invocations urgent work needs.
    """
    threads = []
    for priority, url in queue_urls.items():
        poller = QueuePoller(
            sqs=sqs,
            queue_urls={priority: url},
            workers={priority: workers[priority]},
            region=region,
            receive_visibility_s=receive_visibility_s,
        )
        thread = threading.Thread(
            target=poller.run, args=(stop, concurrency[priority]), name=f"poller-{priority.value}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads
