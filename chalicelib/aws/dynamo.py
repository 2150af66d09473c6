"""DynamoDB helpers both repositories share: page tokens, bounded page reads, condition failures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from chalicelib.errors import BadRequestError


def index_key_names(definition: dict[str, Any], index_name: str | None) -> frozenset[str]:
    """The attributes of a LastEvaluatedKey on the table (None) or one of its indexes."""
    names = {k["AttributeName"] for k in definition["KeySchema"]}
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] == index_name:
            names |= {k["AttributeName"] for k in index["KeySchema"]}
    return frozenset(names)


def _key_equalities(condition: Any) -> dict[str, str]:
    """The ``Key(name).eq(value)`` parts of a KeyConditionExpression (its partition, maybe its sort key)."""
    if condition is None or not isinstance(condition, ConditionBase):
        return {}
    expression = condition.get_expression()
    values = expression["values"]
    if expression["operator"] == "=" and isinstance(values[0], Key) and isinstance(values[1], str):
        return {values[0].name: values[1]}
    if expression["operator"] == "AND":
        return {name: value for part in values for name, value in _key_equalities(part).items()}
    return {}


@dataclass(frozen=True)
class Listing:
    """The one listing a next_token belongs to: a table, one of its indexes, the partition queried.

    A LastEvaluatedKey fed to another listing is not DynamoDB's to judge: real DynamoDB answers
    one that does not belong to the query with a ValidationException (a 500 here), and one of the
    same shape from another partition would resume at a meaningless place. So a token carries a
    digest of its listing and is refused, as a 400, anywhere else.
    """

    table: str
    index: str | None
    key_names: frozenset[str]
    equalities: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, definition: dict[str, Any], request: dict[str, Any]) -> Listing:
        index = request.get("IndexName")
        equalities = _key_equalities(request.get("KeyConditionExpression"))
        return cls(
            table=definition["TableName"],
            index=index,
            key_names=index_key_names(definition, index),
            equalities=tuple(sorted(equalities.items())),
        )

    @property
    def digest(self) -> str:
        named = json.dumps([self.table, self.index, self.equalities], separators=(",", ":"))
        return hashlib.sha256(named.encode()).hexdigest()[:16]

    def encode(self, key: dict[str, Any] | None) -> str | None:
        return encode_token(key, self)

    def decode(self, token: str | None) -> dict[str, Any] | None:
        return decode_token(token, self)


def encode_token(key: dict[str, Any] | None, listing: Listing) -> str | None:
    if not key:
        return None
    body = {"l": listing.digest, "k": key}
    return base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str | None, listing: Listing) -> dict[str, Any] | None:
    """Decode a next_token; one made for another listing (or forged) is a 400, not a DynamoDB error."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("next_token is not a token this API issued.", code="invalid_next_token") from exc
    key = body.get("k") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or set(body) != {"l", "k"}
        or body["l"] != listing.digest
        or not isinstance(key, dict)
        or set(key) != listing.key_names
        or not all(isinstance(v, str) and 0 < len(v) <= 256 for v in key.values())
        # The digest can be copied into a forged token: the key itself must lie in the partition.
        or any(key.get(name) != value for name, value in listing.equalities)
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
    from_token = start_key is not None
    for _ in range(max_pages):
        page_request = dict(request, Limit=limit - len(items))
        if start_key:
            page_request["ExclusiveStartKey"] = start_key
        try:
            page = call(**page_request)
        except ClientError as exc:
            # The first page resumes from the caller's token: a key DynamoDB refuses is the
            # caller's mistake (400). Later pages resume from DynamoDB's own key.
            if from_token and exc.response.get("Error", {}).get("Code") == "ValidationException":
                raise BadRequestError("next_token does not resume this listing.", code="invalid_next_token") from exc
            raise
        from_token = False
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
