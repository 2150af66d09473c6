"""Helpers the tests share: queues, clocks and cron jobs on a test stack. Test modules import from here,
never from one another."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import boto3

import app as app_module
from chalicelib.aws.objects import S3Objects, ensure_bucket
from chalicelib.aws.provision import ensure_table
from chalicelib.clock import ManualClock, to_iso
from chalicelib.config import Settings
from chalicelib.crons.slots import slot_job_id
from chalicelib.jobs.store import DynamoJobStore, JobFilter, jobs_table_definition
from chalicelib.jobs.values import JobValues
from devstack.pollers import sqs_event
from tests.conftest import T0, Stack

# The guide's database_query example.
GUIDE_QUERY = "DELETE FROM temp_data WHERE created_at < NOW() - INTERVAL '30 days'"
# The minute of T0, as rate_limit.py keys its counters.
COUNTER_ID = "ratelimit#store-a#202611281200"
NOT_JOB_IDS = [
    COUNTER_ID,
    "ratelimit#store-b#202611281200",  # a minute store-b never used
    "ratelimit#store-a",
    str(uuid.uuid4()).upper(),  # not the form the services write
    "no-such-job",
]


def T0_PLUS(minutes: int) -> datetime:  # noqa: N802 - reads as the constant it offsets
    return T0 + timedelta(minutes=minutes)


def queue_url(stack: Stack, priority: str = "normal") -> str:
    return stack.session.client("sqs").get_queue_url(QueueName=f"tickwork-{priority}")["QueueUrl"]


def visible_messages(stack: Stack, priority: str = "normal") -> int:
    attrs = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(stack, priority), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def duplicate_message(stack: Stack, job_id: str, priority: str = "normal") -> None:
    """What at-least-once delivery may do: the same job's message a second time."""
    stack.session.client("sqs").send_message(
        QueueUrl=queue_url(stack, priority), MessageBody=json.dumps({"job_id": job_id})
    )


def drain_until(stack: Stack, done: Any, deadline_s: float = 10.0) -> None:
    """Poll the queues until ``done()`` holds; SQS visibility runs on real time in moto."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        stack.poller.drain()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached before the deadline")


T = T0  # the shared stacks' clock start


def at(minute: int, second: int = 0) -> datetime:
    return T + timedelta(minutes=minute, seconds=second)


def create_cron(stack: Stack, tok: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "every five",
        "cron_expression": "*/5 * * * *",
        "job_type": "plugin:test-kit:flaky",
        "configuration": {},
        "store_id": "store-a",
    }
    body.update(fields)
    response = stack.post("/api/cron-jobs", body, tok)
    assert response.status_code == 201, response.json_body
    return response.json_body["job"]


def tick(stack: Stack, moment: datetime) -> Any:
    stack.clock.advance((moment - stack.clock.now()).total_seconds())  # type: ignore[union-attr]
    return stack.runtime.tick.run_tick(moment)


def executions(stack: Stack, cron_id: str) -> list[Any]:
    return stack.runtime.store.list(JobFilter(cron_job_id=cron_id), limit=100, next_token=None).jobs


def hold_first_run(stack: Stack, cron_id: str, until_minute: int) -> str:
    """A worker claims the 12:05 run and keeps it running (its lease lasts until ``until_minute``)."""
    first = slot_job_id(cron_id, at(5))
    stack.runtime.store.claim_due(
        first, lease_token="w", now=to_iso(at(5)), lease_until=to_iso(at(until_minute)), due_by=to_iso(at(5))
    )
    return first


def guide_body(**changes: Any) -> dict[str, Any]:
    """The guide's "Daily Sync Task", with a job type this test registers."""
    body = {
        "name": "Daily Product Sync",
        "description": "Syncs product data every day at 2 AM",
        "cron_expression": "0 2 * * *",
        "job_type": "plugin:test-kit:flaky",
        "configuration": {"url": "/api/my-plugin/sync", "method": "POST"},
        "plugin_id": "your-plugin-uuid",
        "store_id": "store-a",
        "is_active": True,
        "timezone": "UTC",
    }
    body.update(changes)
    return body


def bare_store(table_name: str = "jobs", **options: Any) -> DynamoJobStore:
    """A job store on a fresh table and the values bucket, inside a test's mock_aws()."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    ensure_table(dynamodb, jobs_table_definition(table_name))
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = Settings().values_bucket
    ensure_bucket(s3, bucket, "us-east-1")
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(table_name)
    return DynamoJobStore(table, values=JobValues(S3Objects(s3, bucket)), **options)


class ShortInvocation:
    """Lambda's context for an invocation with time for ``checks`` more questions, then near its end.

    The worker hands a checkpointing job over when the remaining time drops under its margin
    (60 s by default); counting questions instead of milliseconds makes the hand-over points exact.
    """

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def get_remaining_time_in_millis(self) -> int:
        self.checks -= 1
        return 600_000 if self.checks > 0 else 30_000


def invoke_until_empty(stack: Stack, checks: int) -> int:
    """Lambda's event source: each batch of the normal queue in a fresh, short invocation."""
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName="tickwork-normal")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invocations = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        answer = app_module.worker_normal(sqs_event(messages, arn, "us-east-1"), ShortInvocation(checks))
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        invocations += 1
    return invocations


def item_bytes(item: dict[str, Any]) -> int:
    """About the size DynamoDB counts for ``item`` (UTF-8 names and values; numbers a little over)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(name).encode()) + _value_bytes(v) for name, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return 3 + sum(1 + _value_bytes(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 21  # a number: at most 38 digits, stored two to a byte


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server of the test's own on loopback (its endpoint URL), standing in for an AWS account."""
    from moto.server import ThreadedMotoServer

    from devstack.stack import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def sqs_follows(clock: ManualClock) -> Iterator[None]:
    """moto's SQS reads ``clock`` for delays and visibility: a hidden message comes back when the
    clock moves past its time, never after a real wait."""
    import moto.sqs.models as moto_sqs

    real = moto_sqs.unix_time, moto_sqs.unix_time_millis
    moto_sqs.unix_time = lambda dt=None: clock.now().timestamp()
    moto_sqs.unix_time_millis = lambda dt=None: clock.now().timestamp() * 1000
    try:
        yield
    finally:
        moto_sqs.unix_time, moto_sqs.unix_time_millis = real
