"""A request's trace rides its jobs' SQS messages as AWSTraceHeader, so one trace spans request,
queue and worker. moto keeps the attribute on SendMessage (read back here by receiving the
message); it drops it on SendMessageBatch, so the tick's batched sends are checked in the request
boto3 puts on the wire."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.aws.send_batches import BatchingQueues
from chalicelib.jobs.lifecycle import Priority
from chalicelib.jobs.model import JobMessage
from tests.conftest import Stack, auth
from tests.kit import queue_url

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def schedule(stack: Stack, tok: str, headers: dict[str, str]) -> str:
    body = {"type": "plugin:my-plugin:import", "storeId": "store-a", "payload": {"count": 1}}
    response = stack.client.http.post(
        "/api/background-jobs/schedule", headers={**auth(tok), **headers}, body=json.dumps(body)
    )
    assert response.status_code == 201, response.json_body
    return str(response.json_body["job"]["id"])


def received(stack: Stack) -> list[dict[str, Any]]:
    answer = stack.session.client("sqs").receive_message(
        QueueUrl=queue_url(stack), MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
    )
    return list(answer.get("Messages", []))


def test_api_gateways_xray_header_rides_the_message_as_awstraceheader(stack: Stack, admin: str) -> None:
    job_id = schedule(stack, admin, {"X-Amzn-Trace-Id": XRAY})
    [message] = received(stack)
    assert json.loads(message["Body"])["job_id"] == job_id
    assert "Root=" not in message["Body"]  # a system attribute, not a field of the body
    assert message["Attributes"]["AWSTraceHeader"] == XRAY


def test_a_w3c_traceparent_rides_as_the_xray_header_of_the_same_trace(stack: Stack, admin: str) -> None:
    schedule(stack, admin, {"traceparent": TRACEPARENT})
    [message] = received(stack)
    assert message["Attributes"]["AWSTraceHeader"] == (
        "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
    )


def test_a_request_without_a_usable_trace_sends_no_trace_header(stack: Stack, admin: str) -> None:
    schedule(stack, admin, {"traceparent": "garbage", "X-Amzn-Trace-Id": "Root=nope"})
    [message] = received(stack)
    assert "AWSTraceHeader" not in message.get("Attributes", {})


def test_the_worker_hands_a_jobs_trace_and_correlation_id_on_when_a_fresh_invocation_continues_it(
    stack: Stack, admin: str
) -> None:
    schedule(stack, admin, {"X-Amzn-Trace-Id": XRAY, "X-Correlation-Id": "sync-7"})
    [message] = received(stack)
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tickwork-normal",
    }
    # An invocation with no time left: the job checkpoints and is queued for a fresh one.
    outcome = stack.runtime.worker.handle_record(record, remaining_s=lambda: 0.0)
    assert outcome.reason == "continues in a fresh invocation"
    [fresh] = [m for m in received(stack) if m["MessageId"] != message["MessageId"]]
    assert fresh["Attributes"]["AWSTraceHeader"] == XRAY
    assert json.loads(fresh["Body"])["correlation_id"] == "sync-7"


def test_a_batched_send_puts_each_messages_trace_in_its_entry(stack: Stack) -> None:
    sqs = stack.session.client("sqs")
    sent: list[dict[str, Any]] = []
    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.append(params))
    queues = BatchingQueues(sqs, "tickwork-", linger_s=0.0)
    queues.send(Priority.NORMAL, JobMessage(job_id="a", trace_header=XRAY))
    queues.send(Priority.NORMAL, JobMessage(job_id="b"))
    entries = [entry for params in sent for entry in params["Entries"]]
    assert entries[0]["MessageSystemAttributes"] == {"AWSTraceHeader": {"DataType": "String", "StringValue": XRAY}}
    assert "MessageSystemAttributes" not in entries[1]
