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


EVERY_TYPE = {
    "s": {"S": "text é"},
    "n": {"N": "12.5"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b"x", b"y"]},
    "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    "t": {"BOOL": True},
    "z": {"NULL": True},
}


def item_calls(n: int) -> list[tuple[str, dict[str, Any]]]:
    """Each item operation, answering items of every attribute type; ``n`` keeps writes apart."""
    key = {"id": {"S": f"typed-{n}"}}
    return [
        ("put_item", {"TableName": "jobs", "Item": {**key, **EVERY_TYPE}, "ReturnValues": "ALL_OLD"}),
        ("put_item", {"TableName": "jobs", "Item": {**key, **EVERY_TYPE}, "ReturnValues": "ALL_OLD"}),
        ("get_item", {"TableName": "jobs", "Key": key, "ConsistentRead": True}),
        (
            "update_item",
            {
                "TableName": "jobs",
                "Key": key,
                "UpdateExpression": "SET s = :s REMOVE z",
                "ExpressionAttributeValues": {":s": {"S": "changed"}},
                "ReturnValues": "ALL_NEW",
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        (
            "query",
            {
                "TableName": "jobs",
                "KeyConditionExpression": "id = :id",
                "ExpressionAttributeValues": {":id": key["id"]},
            },
        ),
        ("scan", {"TableName": "jobs", "Limit": 3}),
        ("batch_get_item", {"RequestItems": {"jobs": {"Keys": [key, {"id": {"S": "1"}}]}}}),
        ("transact_get_items", {"TransactItems": [{"Get": {"TableName": "jobs", "Key": key}}]}),
        ("batch_write_item", {"RequestItems": {"crons": [{"PutRequest": {"Item": {"id": {"S": f"w-{n}"}}}}]}}),
        ("transact_write_items", {"TransactItems": [{"Put": {"TableName": "crons", "Item": {"id": {"S": f"t-{n}"}}}}]}),
        ("delete_item", {"TableName": "jobs", "Key": key, "ReturnValues": "ALL_OLD"}),
    ]


def test_dynamodb_answers_written_as_json_read_as_moto_serializes_them(dynamo: Any) -> None:
    from devstack.moto_flat import serialized_by_moto

    def answer(call: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in getattr(dynamo, call)(**arguments).items() if k != "ResponseMetadata"}

    with serialized_by_moto():
        theirs = [answer(call, arguments) for call, arguments in item_calls(1)]
    ours = [answer(call, arguments) for call, arguments in item_calls(2)]
    assert len(ours) == len(theirs)
    for mine, moto_own in zip(ours, theirs, strict=True):
        assert json_of(mine).replace("typed-2", "typed-1") == json_of(moto_own)
    assert ours[3]["Attributes"]["b"] == {"B": b"\x00\xffbytes"}  # blobs come back as the bytes stored


def json_of(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=repr)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SET a = :v SET b = :v", 'The "SET" section can only be used once in an update expression'),
        ("SET a = :v REMOVE a", "Two document paths overlap with each other"),
        ("SET a = = :v", "Invalid UpdateExpression: Syntax error"),
        ("SET id = :v", "Cannot update attribute id. This attribute is part of the key"),
    ],
)
def test_update_expressions_are_refused_as_moto_refuses_them_each_time(
    dynamo: Any, expression: str, message: str
) -> None:
    for _ in range(2):  # the second time from the remembered parse
        with pytest.raises(ClientError) as refused:
            dynamo.update_item(
                TableName="jobs",
                Key={"id": {"S": "1"}},
                UpdateExpression=expression,
                ExpressionAttributeValues={":v": {"S": "x"}},
            )
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert message in refused.value.response["Error"]["Message"]


def test_a_remembered_update_expression_applies_each_call_its_own_values(dynamo: Any) -> None:
    for value in ("1", "2", "3"):
        answer = dynamo.update_item(
            TableName="jobs",
            Key={"id": {"S": "5"}},
            UpdateExpression="SET #c = #c + :n, note = if_not_exists(note, :first)",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":n": {"N": value}, ":first": {"S": f"first {value}"}},
            ReturnValues="ALL_NEW",
        )
    assert answer["Attributes"]["count"] == {"N": "6"} and answer["Attributes"]["note"] == {"S": "first 1"}


def test_a_repeated_update_is_parsed_once_counted_once_and_written_without_moto_serializer(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.serialize import ResponseSerializer
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer
    from moto.dynamodb.parsing.validators import ActionCountValidator

    seen = {"tokenized": 0, "clause counts": 0, "attributes serialized": 0}

    def counting(kind: str, original: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            seen[kind] += 1
            return original(*args, **kwargs)

        return counted

    monkeypatch.setattr(ExpressionTokenizer, "make_list", counting("tokenized", ExpressionTokenizer.make_list))
    monkeypatch.setattr(
        ActionCountValidator,
        "verify_action_counts",
        counting("clause counts", ActionCountValidator.verify_action_counts),
    )
    monkeypatch.setattr(
        ResponseSerializer, "_serialize", counting("attributes serialized", ResponseSerializer._serialize)
    )
    sets = ", ".join(f"a{i} = :v" for i in range(10))
    for n in range(5):
        dynamo.update_item(
            TableName="jobs",
            Key={"id": {"S": f"{n}"}},
            UpdateExpression=f"SET {sets} REMOVE gone",
            ExpressionAttributeValues={":v": {"S": "x"}},
            ReturnValues="ALL_NEW",
        )
    # moto: 2 parses per call, a clause count at each of the 11 nested expressions, ~170 serializer steps.
    assert seen == {"tokenized": 1, "clause counts": 5, "attributes serialized": 0}
