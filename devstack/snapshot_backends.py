"""DynamoDB tables and SQS queues, read from and written back to moto's backend objects.

Runs inside the moto process (devstack/moto_process.py). Through the API a restore could not
give a message back its receive count, its group or what is left of its delay, and a dump
would have to receive (and so hide) every message; moto's objects hold all of it. The moto
attributes used here are checked by tests/integration/test_moto_snapshots.py.
"""

from __future__ import annotations

from typing import Any

# SQS's limit on DelaySeconds: a message in flight for longer comes back sooner, as the lease
# that hid it (in its job's item) is what the workers go by.
MAX_DELAY_MS = 900_000

QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "Policy",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _regional_backends(service: str) -> list[tuple[str, str, Any]]:
    from moto.backends import get_backend

    found = []
    for account_id, regions in list(get_backend(service).items()):  # type: ignore[no-untyped-call]
        for region, backend in list(regions.items()):
            found.append((account_id, region, backend))
    return found


def _backend(service: str, account_id: str, region: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)[account_id][region]  # type: ignore[no-untyped-call]


def dump_tables() -> list[dict[str, Any]]:
    tables = []
    for account_id, region, backend in _regional_backends("dynamodb"):
        for table in list(backend.tables.values()):
            tables.append(
                {
                    "account": account_id,
                    "region": region,
                    "name": table.name,
                    "schema": table.schema,
                    "attr": table.attr,
                    "billing_mode": table.billing_mode,
                    "throughput": table.throughput if table.billing_mode != "PAY_PER_REQUEST" else None,
                    "global_indexes": [_index(index) for index in table.global_indexes],
                    "indexes": [_index(index) for index in table.indexes],
                    "tags": table.tags,
                    "ttl": table.ttl,
                    "items": [_attributes(item) for item in table.all_items()],
                }
            )
    return tables


def _attributes(item: Any) -> dict[str, Any]:
    """An item as DynamoDB JSON. moto's own ``to_json`` deep-copies each nested value, at ten
    times the cost, and a dump holds moto's request lock throughout."""
    return {name: _typed(value) for name, value in item.attrs.items()}


def _typed(value: Any) -> dict[str, Any]:
    if value.type == "M":
        return {"M": {name: _typed(nested) for name, nested in value.value.items()}}
    if value.type == "L":
        return {"L": [_typed(nested) for nested in value.value]}
    return {value.type: value.value}


def _index(index: Any) -> dict[str, Any]:
    return {"IndexName": index.name, "KeySchema": index.schema, "Projection": index.projection}


def restore_tables(tables: list[dict[str, Any]]) -> int:
    """The tables and their items; returns how many items."""
    count = 0
    for saved in tables:
        backend = _backend("dynamodb", saved["account"], saved["region"])
        table = backend.create_table(
            name=saved["name"],
            schema=saved["schema"],
            throughput=saved["throughput"],
            attr=saved["attr"],
            global_indexes=saved["global_indexes"],
            indexes=saved["indexes"],
            streams=None,
            billing_mode=saved["billing_mode"],
            sse_specification=None,
            tags=saved["tags"],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        table.ttl = saved["ttl"]
        for item in saved["items"]:
            table.put_item(item)
        count += len(saved["items"])
    return count


def dump_queues() -> list[dict[str, Any]]:
    """Each queue with its messages, and when (epoch ms) each becomes receivable again."""
    queues = []
    for account_id, region, backend in _regional_backends("sqs"):
        for queue in list(backend.queues.values()):
            attributes = {name: value for name, value in _queue_attributes(queue).items() if name in QUEUE_ATTRIBUTES}
            queues.append(
                {
                    "account": account_id,
                    "region": region,
                    "name": queue.name,
                    "attributes": {name: value for name, value in attributes.items() if value is not None},
                    "tags": dict(queue.tags),
                    "messages": [_message(message) for message in list(queue._messages)],
                }
            )
    return queues


def _queue_attributes(queue: Any) -> dict[str, Any]:
    from devstack.moto_flat import queue_counts_skipped

    with queue_counts_skipped():  # the counts are not kept, and cost a pass over the queue each
        return dict(queue.attributes)


def _message(message: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "message_attributes": message.message_attributes,
        "system_attributes": message.system_attributes,
        "group_id": message.group_id,
        "deduplication_id": message.deduplication_id,
        "sent_timestamp": message.sent_timestamp,
        "first_receive_timestamp": message.approximate_first_receive_timestamp,
        "receive_count": message.approximate_receive_count,
        "hidden_until_ms": max(float(message.visible_at or 0), float(message.delayed_until or 0)),
    }


def restore_queues(queues: list[dict[str, Any]], now_ms: float) -> int:
    """The queues (dead-letter queues first) and their messages; returns how many messages."""
    count = 0
    for saved in sorted(queues, key=lambda q: "RedrivePolicy" in q["attributes"]):
        backend = _backend("sqs", saved["account"], saved["region"])
        backend.create_queue(saved["name"], tags=saved["tags"], **saved["attributes"])
        for entry in saved["messages"]:
            message = backend.send_message(
                saved["name"],
                entry["body"],
                message_attributes=entry["message_attributes"] or None,
                delay_seconds=0,
                deduplication_id=entry["deduplication_id"],
                group_id=entry["group_id"],
                system_attributes=entry["system_attributes"] or None,
                validate_group_id=False,
            )
            message.id = entry["id"]
            message.sent_timestamp = entry["sent_timestamp"]
            message.approximate_first_receive_timestamp = entry["first_receive_timestamp"]
            message.approximate_receive_count = entry["receive_count"]
            # In flight or delayed alike: hidden until the same moment, as time went on on SQS while
            # the stack was stopped; a receipt handed out before the stop answers nothing.
            message.delayed_until = min(entry["hidden_until_ms"], now_ms + MAX_DELAY_MS)
        count += len(saved["messages"])
    return count
