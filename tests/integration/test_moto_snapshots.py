"""The embedded AWS's snapshots give back what moto held, and the moto internals they read are still there.

A moto upgrade that renames what devstack/snapshot_backends.py and devstack/snapshots.py read
fails here, by name, rather than as a stack that silently starts empty.
"""

from __future__ import annotations

import inspect
import json
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.moto_lock import request_lock, serialize_moto_requests
from devstack.snapshot_backends import MAX_DELAY_MS
from devstack.snapshots import Snapshots, changing, read_snapshot, restore_snapshot, take_snapshot, write_atomically
from tests.kit import moto_server

serialize_moto_requests()

REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server of the test's own, standing in for an AWS account."""
    with moto_server() as url:
        yield url


def reset(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()


def client(endpoint: str, service: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    return session.client(service, endpoint_url=endpoint)


@pytest.fixture
def aws(endpoint: str) -> Iterator[str]:
    reset(endpoint)
    yield endpoint
    reset(endpoint)


def test_the_moto_internals_the_snapshots_read_are_there() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import Message, Queue, SQSBackend

    assert {"schema", "attr", "global_indexes", "indexes", "billing_mode", "tags"} <= set(
        inspect.signature(DynamoDBBackend.create_table).parameters
    )
    assert {"all_items", "put_item"} <= set(dir(Table))
    table_init = inspect.signature(Table.__init__).parameters
    assert {"schema", "attr", "global_indexes", "indexes", "billing_mode"} <= set(table_init)
    item = Item(DynamoType({"S": "k"}), None, {"id": {"S": "k"}, "m": {"M": {"n": {"N": "1"}}}})
    assert {name: (v.type, type(v.value).__name__) for name, v in item.attrs.items()} == {
        "id": ("S", "str"),
        "m": ("M", "dict"),
    }

    message = Message("id", "body")
    for name in (
        "id",
        "body",
        "message_attributes",
        "system_attributes",
        "group_id",
        "deduplication_id",
        "sent_timestamp",
        "approximate_first_receive_timestamp",
        "approximate_receive_count",
        "visible_at",
        "delayed_until",
    ):
        assert hasattr(message, name), name
    queue = Queue("q", REGION, "123456789012")
    assert isinstance(queue._messages, list) and isinstance(queue.attributes, dict)
    send = inspect.signature(SQSBackend.send_message).parameters
    assert {"message_attributes", "delay_seconds", "deduplication_id", "group_id", "system_attributes"} <= set(send)
    assert "validate_group_id" in send
    assert callable(SQSBackend.receive_message) and callable(DomainDispatcherApplication.__call__)


def test_a_table_comes_back_with_its_indexes_and_every_kind_of_value(aws: str) -> None:
    dynamodb = client(aws, "dynamodb")
    dynamodb.create_table(
        TableName="jobs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName="jobs", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    item = {
        "id": {"S": "job-1"},
        "status": {"S": "pending"},
        "count": {"N": "42"},
        "raw": {"B": b"\x00\xffbytes"},
        "tags": {"SS": ["a", "b"]},
        "payload": {"M": {"nested": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    dynamodb.put_item(TableName="jobs", Item=item)

    snapshot = round_trip(aws)

    assert len(snapshot["tables"]) == 1
    assert dynamodb.get_item(TableName="jobs", Key={"id": {"S": "job-1"}})["Item"] == item
    by_status = dynamodb.query(
        TableName="jobs",
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "pending"}},
    )
    assert [i["id"]["S"] for i in by_status["Items"]] == ["job-1"]
    ttl = dynamodb.describe_time_to_live(TableName="jobs")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_messages_come_back_with_their_counts_and_hidden_until_the_same_moment(aws: str) -> None:
    sqs = client(aws, "sqs")
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "60", "RedrivePolicy": redrive})[
        "QueueUrl"
    ]
    sqs.send_message(
        QueueUrl=url, MessageBody="in flight", MessageAttributes={"kind": {"DataType": "String", "StringValue": "a"}}
    )
    [received] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=300)
    sqs.send_message(QueueUrl=url, MessageBody="ready")
    fifo = sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=fifo, MessageBody="first", MessageGroupId="store-1", MessageDeduplicationId="d1")

    from moto.sqs.models import unix_time_millis

    taken_ms = unix_time_millis()
    snapshot = take_snapshot(aws, REGION, request_lock())
    by_body = {m["body"]: m for q in snapshot["queues"] for m in q["messages"]}
    assert by_body["in flight"]["receive_count"] == 1
    assert by_body["in flight"]["message_attributes"]["kind"]["StringValue"] == "a"
    assert by_body["first"]["group_id"] == "store-1"
    hidden = {body: by_body[body]["hidden_until_ms"] - taken_ms for body in ("in flight", "delayed", "ready")}
    assert 595_000 < hidden["in flight"] <= 600_000 and 295_000 < hidden["delayed"] <= 300_000
    assert hidden["ready"] <= 0

    # Hidden until the same moments: time went on while the stack was stopped, as on SQS.
    reset(aws)
    restore_snapshot(snapshot, aws)
    from moto.backends import get_backend

    queue = get_backend("sqs")["123456789012"][REGION].queues["jobs"]  # type: ignore[no-untyped-call]
    restored = {m.body: m for m in queue._messages}
    assert restored["in flight"].delayed_until == by_body["in flight"]["hidden_until_ms"]
    assert restored["delayed"].delayed_until == by_body["delayed"]["hidden_until_ms"]
    assert restored["in flight"].approximate_receive_count == 1
    assert restored["in flight"].id == received["MessageId"]
    assert json.loads(queue.attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn

    # Never longer than SQS's longest delay from the restore (a clock 100 s on, here).
    later_ms = taken_ms + 100_000
    by_body["in flight"]["hidden_until_ms"] = later_ms + 10 * MAX_DELAY_MS
    reset(aws)
    restore_snapshot(snapshot, aws, clock=lambda: later_ms / 1000.0)
    queue = get_backend("sqs")["123456789012"][REGION].queues["jobs"]  # type: ignore[no-untyped-call]
    assert {m.body: m for m in queue._messages}["in flight"].delayed_until == later_ms + MAX_DELAY_MS
    ordered = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="ordered.fifo")["QueueUrl"])["Messages"]
    assert [m["Body"] for m in ordered] == ["first"]
    ready = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="jobs")["QueueUrl"], MaxNumberOfMessages=10)
    assert [m["Body"] for m in ready["Messages"]] == ["ready"]  # the others are still hidden


def test_parameters_secrets_and_objects_come_back(aws: str) -> None:
    client(aws, "ssm").put_parameter(Name="/tickwork/dev/jwt-secret", Value="s3cr3t", Type="SecureString")
    client(aws, "ssm").put_parameter(Name="/plain", Value="v", Type="String", Description="why")
    client(aws, "secretsmanager").create_secret(Name="stores/store-1/api-key", SecretString="key")
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="values")
    s3.put_object(Bucket="values", Key="jobs/1/result", Body=b"\x00large", ContentType="application/json")

    round_trip(aws)

    ssm = client(aws, "ssm")
    assert ssm.get_parameter(Name="/tickwork/dev/jwt-secret", WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"
    assert ssm.get_parameter(Name="/tickwork/dev/jwt-secret")["Parameter"]["Type"] == "SecureString"
    assert ssm.get_parameter(Name="/plain")["Parameter"]["Value"] == "v"
    secret = client(aws, "secretsmanager").get_secret_value(SecretId="stores/store-1/api-key")
    assert secret["SecretString"] == "key"
    got = s3.get_object(Bucket="values", Key="jobs/1/result")
    assert (got["Body"].read(), got["ContentType"]) == (b"\x00large", "application/json")


def round_trip(endpoint: str) -> dict[str, Any]:
    """Through the file, as a stop and a start do; moto emptied in between."""
    snapshot = take_snapshot(endpoint, REGION, request_lock())
    path = Path(tempfile.mkdtemp()) / "aws-state.json"
    write_atomically(path, snapshot)
    reset(endpoint)
    restored = read_snapshot(path)
    assert restored is not None
    restore_snapshot(restored, endpoint)
    return restored


def test_only_requests_that_may_change_something_call_for_a_snapshot() -> None:
    def target(action: str) -> dict[str, str]:
        return {"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": action}

    assert not changing(target("DynamoDB_20120810.GetItem"))
    assert not changing(target("DynamoDB_20120810.Query"))
    assert not changing(target("AmazonSQS.ReceiveMessage"))  # counted only when it returns messages
    assert not changing({"REQUEST_METHOD": "GET", "PATH_INFO": "/values/key"})
    assert changing(target("DynamoDB_20120810.UpdateItem"))
    assert changing(target("AmazonSQS.ChangeMessageVisibilityBatch"))
    assert changing({"REQUEST_METHOD": "PUT", "PATH_INFO": "/values/key"})


def test_a_snapshot_is_written_only_after_a_change(aws: str, tmp_path: Path) -> None:
    path = tmp_path / "aws-state.json"
    snapshots = Snapshots(path, aws, REGION, request_lock(), interval_s=3600)
    snapshots.install()
    assert snapshots.save() is None and not path.exists()  # nothing changed since it started
    client(aws, "ssm").put_parameter(Name="/p", Value="1", Type="String")
    assert snapshots.save()
    assert snapshots.save() is None
    sqs = client(aws, "sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    snapshots.save()
    sqs.receive_message(QueueUrl=url)  # nothing to receive: nothing changed
    assert snapshots.save() is None
    sqs.send_message(QueueUrl=url, MessageBody="m")
    snapshots.save()
    sqs.receive_message(QueueUrl=url)  # hides the message and counts a receive
    assert snapshots.save()
    assert not path.with_name(path.name + ".tmp").exists()
