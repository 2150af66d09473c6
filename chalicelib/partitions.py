"""A key's shard among N: how the sharded indexes (jobs by status, cron jobs by due time) spread
one hot partition key over N, each item keeping its shard for life; and the next_tokens of the
listings that read them (pure)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from chalicelib.errors import BadRequestError


def stable_shard(key: str, shards: int) -> int:
    """``key``'s shard in ``range(shards)``: the same in every process and release (Python's
    ``hash()`` is salted per process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def encode_token(body: dict[str, Any]) -> str:
    """A listing's next_token: its position as compact JSON, base64url without padding."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, *, digest: str, fields: set[str], max_chars: int) -> dict[str, Any]:
    """The body of a next_token this API issued for the listing ``digest`` names, with exactly
    ``fields`` (its ``l`` field the digest); a 400 for anything else, never a query DynamoDB refuses."""
    invalid = BadRequestError("next_token is not a token this API issued for this listing.", code="invalid_next_token")
    if len(token) > max_chars:
        raise invalid
    try:
        body = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(body, dict) or set(body) != fields | {"l"} or body["l"] != digest:
        raise invalid
    return body
