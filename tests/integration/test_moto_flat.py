"""moto keeps no copy of what it serves; a transaction costs its items and a message its own cost, not the whole table or queue."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item
from moto.sqs.models import Message

from devstack.moto_lock import serialize_moto_requests

serialize_moto_requests()

ROWS = 200


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


@pytest.fixture
def dynamo() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("crons", "jobs"):
            client.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
            for n in range(ROWS):
                client.put_item(TableName=name, Item={"id": {"S": f"{n}"}, "count": {"N": "0"}})
        yield client


def count_and_mark(n: int, *, marked: str = "attribute_not_exists(marked)") -> list[dict[str, Any]]:
    """The shape of the cron outcome's transaction: count on one table, mark on the other."""
    return [
        {
            "Update": {
                "TableName": "crons",
                "Key": {"id": {"S": f"{n}"}},
                "UpdateExpression": "ADD #c :one",
                "ExpressionAttributeNames": {"#c": "count"},
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {
            "Update": {
                "TableName": "jobs",
                "Key": {"id": {"S": f"{n}"}},
                "UpdateExpression": "SET marked = :t",
                "ConditionExpression": marked,
                "ExpressionAttributeValues": {":t": {"BOOL": True}},
            }
        },
    ]


def test_a_transaction_copies_its_items_not_its_tables(dynamo: Any) -> None:
    before = live(Item)
    for n in range(20):
        dynamo.transact_write_items(TransactItems=count_and_mark(n))
    # moto's own rollback copied both tables per call, and kept every copy: 20 x 400 items.
    assert live(Item) - before < ROWS


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamo: Any) -> None:
    dynamo.transact_write_items(TransactItems=count_and_mark(7))
    with pytest.raises(ClientError) as refused:
        dynamo.transact_write_items(TransactItems=count_and_mark(7))  # marked already
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    cron = dynamo.get_item(TableName="crons", Key={"id": {"S": "7"}})["Item"]
    assert cron["count"] == {"N": "1"}  # the first update of the refused one was undone
    put_then_refused = [
        {"Put": {"TableName": "crons", "Item": {"id": {"S": "new"}}}},
        count_and_mark(7)[1],
    ]
    with pytest.raises(ClientError):
        dynamo.transact_write_items(TransactItems=put_then_refused)
    assert "Item" not in dynamo.get_item(TableName="crons", Key={"id": {"S": "new"}})


def test_updates_and_queries_leave_no_copies_behind(dynamo: Any) -> None:
    before = live(Item)
    for n in range(50):
        dynamo.update_item(
            TableName="jobs",
            Key={"id": {"S": f"{n}"}},
            UpdateExpression="SET #c = :n",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
        dynamo.query(
            TableName="jobs",
            KeyConditionExpression="id = :id",
            ExpressionAttributeValues={":id": {"S": f"{n}"}},
        )
    assert live(Item) - before < 10


def test_received_messages_leave_no_copies_behind() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(10)])
        before = live(Message)
        for _ in range(30):
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        assert live(Message) - before < 10


def test_sending_and_receiving_look_at_each_queued_message_about_once(monkeypatch: pytest.MonkeyPatch) -> None:
    queued = 300
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for _ in range(queued // 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(10)])
        looks = 0
        delayed = Message.delayed

        def counted(message: Message) -> bool:
            nonlocal looks
            looks += 1
            return bool(delayed.fget(message))  # type: ignore[attr-defined]

        monkeypatch.setattr(Message, "delayed", property(counted))
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(10)])
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        # moto recounted the whole queue three times per message sent and nine per message received.
        assert looks <= 2 * (queued + 10)


def test_the_server_routes_a_host_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    listings = 0
    listing = backends.list_of_moto_modules

    def counted() -> Any:
        nonlocal listings
        listings += 1
        return listing()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    dispatcher = DomainDispatcherApplication(create_app=lambda backend: None)  # type: ignore[arg-type,return-value]
    first = dispatcher.get_backend_for_host("sqs.us-east-1.amazonaws.com")
    for _ in range(20):
        assert dispatcher.get_backend_for_host("sqs.us-east-1.amazonaws.com") == first
    assert first == "sqs" and listings <= 1  # moto listed its package folder on every request
