"""SQS adapter: one queue per priority, each with a dead-letter queue."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import SQS_MAX_DELAY_S, SQS_MAX_VISIBILITY_S, dead_letter_queue_name, queue_name
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority
from chalicelib.jobs.model import JobMessage

# The queue default must outlast every batch Lambda may hold while throttled: AWS asks for
# at least 6x the function timeout. Workers shorten their own message to a lease at claim.
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
WORKER_TIMEOUT_S = 900
QUEUE_VISIBILITY_TIMEOUT_S = 6 * WORKER_TIMEOUT_S
# Receives before SQS moves a message to the DLQ. Every attempt is a receive, and so is every
# visibility hop of a long delay (up to 12 h each, for as long as the message is retained) and
# every poll of a buffer_one run waiting for its predecessor (run_after_poll_s): 25 retries, 28
# hops and ~100 polls already pass 50. Poison messages are forwarded to the DLQ at once
# (forward_to_dead_letter), so this is only a backstop: the SQS maximum.
DLQ_MAX_RECEIVE_COUNT = 1000
MESSAGE_RETENTION_S = 14 * 24 * 3600
# SQS counts its 12-hour visibility cap from the message's receipt, not from the call: asking for
# the full 12 hours moments after a receive is refused. A quarter of an hour covers the batch.
LONGEST_VISIBILITY_S = SQS_MAX_VISIBILITY_S - 15 * 60
# SQS batch calls (and Lambda's SQS batches) hold at most 10 entries.
SQS_MAX_BATCH = 10


@dataclass(frozen=True)
class DeadLetter:
    """A message parked in a dead-letter queue, as an operator sees it."""

    priority: str
    message_id: str
    body: str
    reason: str | None  # set when a worker parked it; None when SQS's redrive policy did
    sent_at: str | None
    receive_count: int


def trace_of(message: JobMessage) -> dict[str, Any]:
    """The message's X-Ray trace as SQS carries it to the worker's invocation (and X-Ray links
    the two), where the message has one."""
    if not message.trace_header:
        return {}
    return {"MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": message.trace_header}}}


def tenant_of(message: JobMessage) -> dict[str, str]:
    """The message's tenant for SQS fair queues: a store holding many in-flight messages is
    served after quieter ones, where AWS offers it (standard queues ignore it otherwise)."""
    return {"MessageGroupId": message.store_id} if message.store_id else {}


class SendRefusedError(Exception):
    """SQS refused some messages of a SendMessageBatch (the others went)."""


class QueueGoneError(Exception):
    """Raised when a receipt handle no longer names a message (deleted or expired)."""


class SqsPriorityQueues:
    """Sends job messages to the queue of their priority and steers their visibility."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def url_for_name(self, name: str) -> str:
        # One GetQueueUrl per queue per container, not per message.
        with self._lock:
            url = self._urls.get(name)
        if url is None:
            url = self._client.get_queue_url(QueueName=name)["QueueUrl"]
            with self._lock:
                self._urls[name] = url
        return url

    def url_for(self, priority: Priority) -> str:
        return self.url_for_name(queue_name(self._prefix, priority.value))

    def dlq_url_for(self, priority: Priority) -> str:
        return self.url_for_name(dead_letter_queue_name(self._prefix, priority.value))

    def send(self, priority: Priority, message: JobMessage, *, delay_s: int = 0) -> str:
        answer = self._client.send_message(
            QueueUrl=self.url_for(priority),
            MessageBody=message.model_dump_json(exclude_none=True),
            DelaySeconds=max(0, min(int(delay_s), SQS_MAX_DELAY_S)),
            **tenant_of(message),
            **trace_of(message),
        )
        return answer["MessageId"]

    def send_many(self, priority: Priority, messages: list[tuple[JobMessage, int]]) -> None:
        """Send ``messages`` (each with its delay in seconds), ten to a SendMessageBatch.

        Raises SendRefusedError, after trying every batch, if SQS refused any message: the
        caller's sweep sends again, and a second message for a job is harmless (its claim is
        conditional).
        """
        refused: list[str] = []
        url = self.url_for(priority)
        for start in range(0, len(messages), SQS_MAX_BATCH):
            chunk = messages[start : start + SQS_MAX_BATCH]
            answer = self._client.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": message.model_dump_json(exclude_none=True),
                        "DelaySeconds": max(0, min(int(delay_s), SQS_MAX_DELAY_S)),
                        **tenant_of(message),
                        **trace_of(message),
                    }
                    for index, (message, delay_s) in enumerate(chunk)
                ],
            )
            refused += [f"{f.get('Code')}: {f.get('Message')}" for f in answer.get("Failed", [])]
        if refused:
            raise SendRefusedError(f"SQS refused {len(refused)} message(s): {refused[0]}")

    def forward_to_dead_letter(self, source_queue_name: str, body: str, reason: str) -> None:
        """Park a message no attempt can ever run (unreadable, or its job is gone).

        Waiting for the redrive policy would cost DLQ_MAX_RECEIVE_COUNT long visibility
        timeouts; the reason travels as a message attribute for whoever inspects the DLQ.
        """
        self._client.send_message(
            QueueUrl=self.url_for_name(source_queue_name + "-dlq"),
            MessageBody=body or "(empty)",
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
        )

    def delete(self, queue_url: str, receipt_handle: str) -> None:
        self._client.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)

    def set_visibility(self, queue_url: str, receipt_handle: str, seconds: float) -> None:
        try:
            self._client.change_message_visibility(
                QueueUrl=queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds + 0.999), LONGEST_VISIBILITY_S)),
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ReceiptHandleIsInvalid", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"):
                raise QueueGoneError(code) from exc
            raise

    def set_visibility_many(self, queue_url: str, receipt_handles: list[str], seconds: float) -> int:
        """One call for up to 10 messages (a Lambda batch); returns how many SQS refused."""
        return self.set_visibility_each(queue_url, [(handle, seconds) for handle in receipt_handles])

    def set_visibility_each(self, queue_url: str, entries: list[tuple[str, float]]) -> int:
        """Each message's own visibility, one call for up to 10; returns how many SQS refused."""
        if not entries:
            return 0
        answer = self._client.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "ReceiptHandle": handle,
                    "VisibilityTimeout": max(0, min(int(seconds + 0.999), LONGEST_VISIBILITY_S)),
                }
                for i, (handle, seconds) in enumerate(entries[:SQS_MAX_BATCH])
            ],
        )
        return len(answer.get("Failed", []))

    def peek_dead_letters(self, priority: Priority) -> list[DeadLetter]:
        """Up to 10 parked messages of one DLQ, left in place (SQS can sample a queue, not list it)."""
        answer = self._client.receive_message(
            QueueUrl=self.dlq_url_for(priority),
            MaxNumberOfMessages=SQS_MAX_BATCH,
            VisibilityTimeout=0,  # stay visible: looking must not hide them from a redrive
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        parked = []
        for message in answer.get("Messages", []):
            system = message.get("Attributes", {})
            sent_ms = system.get("SentTimestamp")
            parked.append(
                DeadLetter(
                    priority=priority.value,
                    message_id=message["MessageId"],
                    body=message["Body"][:2000],
                    reason=message.get("MessageAttributes", {}).get("reason", {}).get("StringValue"),
                    sent_at=datetime.fromtimestamp(int(sent_ms) / 1000, UTC).isoformat() if sent_ms else None,
                    receive_count=int(system.get("ApproximateReceiveCount", 0)),
                )
            )
        return parked

    def redrive_dead_letters(self, priority: Priority, max_messages: int) -> int:
        """Move up to ``max_messages`` parked messages back to their queue; returns how many moved.

        Send first, delete after: a crash in between leaves a duplicate (harmless, claims are
        conditional), never a lost message. A message no worker can read returns to the DLQ.
        """
        moved = 0
        dlq = self.dlq_url_for(priority)
        while moved < max_messages:
            messages = self._client.receive_message(
                QueueUrl=dlq,
                MaxNumberOfMessages=min(SQS_MAX_BATCH, max_messages - moved),
                VisibilityTimeout=60,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                break
            self._client.send_message_batch(
                QueueUrl=self.url_for(priority),
                Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)],
            )
            self._client.delete_message_batch(
                QueueUrl=dlq,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            moved += len(messages)
        return moved

    def visible(self, priority: Priority) -> int:
        """Messages waiting in the queue (not in flight, not delayed): one request."""
        attrs = self._client.get_queue_attributes(
            QueueUrl=self.url_for(priority), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    def depths(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        for priority in PRIORITY_ORDER:
            attrs = self._client.get_queue_attributes(QueueUrl=self.url_for(priority), AttributeNames=names)[
                "Attributes"
            ]
            dlq = self._client.get_queue_attributes(
                QueueUrl=self.dlq_url_for(priority), AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            out[priority.value] = {
                "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
                "dead_letter": int(dlq.get("ApproximateNumberOfMessages", 0)),
            }
        return out


def provision_queues(client: Any, prefix: str) -> dict[str, str]:
    """Create the four queues and their DLQs if missing (idempotent); returns name -> url."""
    urls: dict[str, str] = {}
    for priority in PRIORITY_ORDER:
        dlq_name = dead_letter_queue_name(prefix, priority.value)
        dlq_url = client.create_queue(
            QueueName=dlq_name, Attributes={"MessageRetentionPeriod": str(MESSAGE_RETENTION_S)}
        )["QueueUrl"]
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        name = queue_name(prefix, priority.value)
        url = client.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(QUEUE_VISIBILITY_TIMEOUT_S),
                "MessageRetentionPeriod": str(MESSAGE_RETENTION_S),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT}),
            },
        )["QueueUrl"]
        urls[name] = url
        urls[dlq_name] = dlq_url
    return urls
