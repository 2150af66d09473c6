"""Sends from many threads leave ten at a time: one SendMessageBatch instead of ten SendMessage.

The tick fires a minute's slots from a pool of threads, each storing a slot's job, sending its
message and then advancing the cron job. ``send`` keeps that order: it returns once the batch
holding the message is accepted by SQS (or raises, for that message alone), so a cron job is
never advanced past a slot whose message was not sent. A message waits at most ``linger_s`` for
companions; a batch that fills up leaves at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws.queues import SQS_MAX_BATCH, SqsPriorityQueues, tenant_of, trace_of
from chalicelib.config import SQS_MAX_DELAY_S
from chalicelib.jobs.lifecycle import Priority
from chalicelib.jobs.model import JobMessage

DEFAULT_LINGER_S = 0.02


class BatchSendError(Exception):
    """SQS refused this message of a batch (the others may have gone)."""


@dataclass
class _Entry:
    body: str
    delay_s: int
    tenant: dict[str, str]
    trace: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    message_id: str | None = None
    error: Exception | None = None


class BatchingQueues(SqsPriorityQueues):
    """The priority queues, whose ``send`` joins the messages other threads send at the same time."""

    def __init__(self, client: Any, prefix: str, *, linger_s: float = DEFAULT_LINGER_S) -> None:
        super().__init__(client, prefix)
        self._linger_s = linger_s
        self._open: dict[Priority, list[_Entry]] = {}
        self._batch_lock = threading.Lock()

    def send(self, priority: Priority, message: JobMessage, *, delay_s: int = 0) -> str:
        entry = _Entry(
            message.model_dump_json(exclude_none=True),
            max(0, min(int(delay_s), SQS_MAX_DELAY_S)),
            tenant_of(message),
            trace_of(message),
        )
        with self._batch_lock:
            batch = self._open.setdefault(priority, [])
            batch.append(entry)
            first, full = len(batch) == 1, len(batch) == SQS_MAX_BATCH
            if full:
                del self._open[priority]
        if full:
            self._send_batch(priority, batch)
        elif first:
            # The first message of a batch waits for companions, then sends what has come.
            time.sleep(self._linger_s)
            with self._batch_lock:
                if self._open.get(priority) is batch:
                    del self._open[priority]
                else:
                    batch = []  # it filled up and left meanwhile
            if batch:
                self._send_batch(priority, batch)
        entry.done.wait()
        if entry.error is not None:
            raise entry.error
        assert entry.message_id is not None
        return entry.message_id

    def _send_batch(self, priority: Priority, batch: list[_Entry]) -> None:
        try:
            answer = self._client.send_message_batch(
                QueueUrl=self.url_for(priority),
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": entry.body,
                        "DelaySeconds": entry.delay_s,
                        **entry.tenant,
                        **entry.trace,
                    }
                    for index, entry in enumerate(batch)
                ],
            )
        except Exception as exc:
            for entry in batch:
                entry.error = exc
                entry.done.set()
            return
        for sent in answer.get("Successful", []):
            batch[int(sent["Id"])].message_id = sent["MessageId"]
        for failed in answer.get("Failed", []):
            batch[int(failed["Id"])].error = BatchSendError(f"{failed.get('Code')}: {failed.get('Message')}")
        for entry in batch:
            if entry.message_id is None and entry.error is None:
                entry.error = BatchSendError("SQS answered nothing for this message")
            entry.done.set()
