"""Every store with a slot item, a page at a time, through the stores index (no table scan).

A page reads the shards of the stores index in order, each by store id, and stops when it has
``limit`` stores or has sent its budget of queries. Its next_token is where the next page starts:
a shard and the store it read last there. The token is tied to the table and the index, and the
store it names must hash to the shard it names, so a forged token is a 400, never a query that
starts somewhere DynamoDB would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequestError
from chalicelib.jobs.model import ID_PATTERN
from chalicelib.jobs.shards import listing_digest
from chalicelib.partitions import decode_token, encode_token
from chalicelib.stores.shards import BY_TENANT_SHARD_INDEX, STORE_SHARDS, store_shard
from chalicelib.stores.slots import SLOTS_ID_PREFIX, StoreSlots

# Queries one page may send: every shard once, and a few more when shards answer short pages.
MAX_READS_PER_PAGE = STORE_SHARDS + 4
# A shard number and a store id, base64'd, with room to spare.
MAX_TOKEN_CHARS = 512

# (shard, the store read last in it; None: from the shard's start)
Position = tuple[int, str | None]


@dataclass(frozen=True)
class StoresPage:
    items: list[dict[str, Any]]
    next_token: str | None


def list_stores(slots: StoreSlots, *, table_name: str, limit: int, next_token: str | None) -> StoresPage:
    """Up to ``limit`` slot items (as the stores index holds them), each store on exactly one page."""
    digest = listing_digest(table_name, BY_TENANT_SHARD_INDEX, "stores")
    shard, after = decode_position(next_token, digest)
    items: list[dict[str, Any]] = []
    reads = 0
    while len(items) < limit and shard < STORE_SHARDS and reads < MAX_READS_PER_PAGE:
        found, last = slots.list_shard(shard, after=after, limit=limit - len(items))
        reads += 1
        items.extend(found)
        if last is None:
            shard, after = shard + 1, None
        else:
            after = last
    token = None if shard >= STORE_SHARDS else encode_position((shard, after), digest)
    return StoresPage(items=items, next_token=token)


def store_id_of(item: dict[str, Any]) -> str:
    return str(item["id"])[len(SLOTS_ID_PREFIX) :]


def encode_position(position: Position, digest: str) -> str:
    return encode_token({"l": digest, "s": position[0], "a": position[1]})


def decode_position(token: str | None, digest: str) -> Position:
    if not token:
        return (0, None)
    body = decode_token(token, digest=digest, fields={"s", "a"}, max_chars=MAX_TOKEN_CHARS)
    invalid = BadRequestError("next_token is not a token this API issued for this listing.", code="invalid_next_token")
    shard, after = body["s"], body["a"]
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < STORE_SHARDS:
        raise invalid
    if after is not None and (
        not isinstance(after, str) or not re.fullmatch(ID_PATTERN, after) or store_shard(after) != shard
    ):
        raise invalid  # a store outside the shard would resume the query at a meaningless place
    return (shard, after)
