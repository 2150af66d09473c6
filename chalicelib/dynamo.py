"""DynamoDB helpers both repositories share: page tokens, bounded page reads, condition failures."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from chalicelib.errors import BadRequestError


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def index_key_names(definition: dict[str, Any], index_name: str | None) -> frozenset[str]:
    """The attributes of a LastEvaluatedKey on the table (None) or one of its indexes."""
    names = {k["AttributeName"] for k in definition["KeySchema"]}
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] == index_name:
            names |= {k["AttributeName"] for k in index["KeySchema"]}
    return frozenset(names)


def decode_token(token: str | None, expected_keys: frozenset[str]) -> dict[str, Any] | None:
    """Decode a next_token; one made for another listing (or forged) is a 400, not a DynamoDB error."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("next_token is not a token this API issued.", code="invalid_next_token") from exc
    if (
        not isinstance(key, dict)
        or set(key) != expected_keys
        or not all(isinstance(v, str) and 0 < len(v) <= 256 for v in key.values())
    ):
        raise BadRequestError("next_token is not a token this API issued for this listing.", code="invalid_next_token")
    return key


def read_pages(
    call: Callable[..., dict[str, Any]],
    request: dict[str, Any],
    *,
    limit: int,
    start_key: dict[str, Any] | None,
    max_pages: int,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Up to ``limit`` items from a Query or Scan, and the key to resume after them.

    Limit counts items read before the filter, so asking each page for what is still missing
    leaves LastEvaluatedKey exactly after the last item read: resuming skips nothing. At most
    ``max_pages`` pages are read, so one request's cost stays bounded when a filter matches little.
    """
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        page_request = dict(request, Limit=limit - len(items))
        if start_key:
            page_request["ExclusiveStartKey"] = start_key
        page = call(**page_request)
        items.extend(page.get("Items", []))
        start_key = page.get("LastEvaluatedKey")
        if not start_key or len(items) >= limit:
            break
    return items, start_key


def sweep_pages(
    call: Callable[..., dict[str, Any]], request: dict[str, Any], *, limit: int, max_pages: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` matching items, reading whole pages (1 MB each) and at most ``max_pages``.

    For sweeps, which want what matches now and never resume: unlike ``read_pages`` no
    per-page Limit, so a filter that matches little still looks through a full page each time.
    """
    request = dict(request)
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        page = call(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page or len(items) >= limit:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit]


class ConditionFailedWithItemError(Exception):
    """Raised when a condition failed and DynamoDB returned the item as it is (ALL_OLD)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def old_item(exc: ClientError) -> dict[str, Any] | None:
    """The item DynamoDB returned with a failed condition, in the resource API's plain types."""
    raw = exc.response.get("Item")
    if not raw:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in raw.items()}


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
