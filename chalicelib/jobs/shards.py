"""The status index's sharded partition key, and the newest-first merge of its shards (pure).

DynamoDB serves one partition key value at about 1,000 write units a second, on a GSI as on
the table. Keyed by ``status`` alone, the status index would take every claim, retry and finish
on three or four key values. So its key is ``status_shard`` = ``"<status>#<nn>"``, ``nn`` a stable
hash of the job id modulo STATUS_SHARDS: a job keeps its shard for life, its status moves it
between key values, and each status spreads over STATUS_SHARDS partitions. A reader of one
status queries every shard; a listing merges them newest first (``merge_newest_first``) and its
next_token holds each shard's position (``encode_positions``).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.errors import BadRequestError
from chalicelib.partitions import decode_token, encode_token, stable_shard

# Key values per status. A status's writes spread over this many partitions; a reader of one
# status sends this many queries. Changing it moves every job to another key: run the
# backfill (docs/operations.md) after any change.
STATUS_SHARDS = 16
SHARD_ATTRIBUTE = "status_shard"

# A shard's place in a merged listing: not started (None), exhausted (DONE), or after the item
# with this (created_at, id).
Position = tuple[str, str] | None
DONE: tuple[str, str] = ("", "")
# A position's strings are a job's created_at and id; each is far shorter than this.
MAX_POSITION_CHARS = 256
# Every shard at its longest position, base64'd, with room to spare: a longer token is refused
# before it is decoded.
MAX_TOKEN_CHARS = 4 * STATUS_SHARDS * (2 * MAX_POSITION_CHARS + 16) // 3 + 64

# fetch(requests) -> one answer per request: the items read, and where the shard's next read
# starts (None: the shard is exhausted). A request is (shard, start position).
Fetch = Callable[[list[tuple[int, Position]]], list[tuple[list[dict[str, Any]], Position]]]


def shard_of(job_id: str) -> int:
    """A job's shard, for life."""
    return stable_shard(job_id, STATUS_SHARDS)


def status_shard(status: str, job_id: str) -> str:
    """The status index's partition key value for a job of ``job_id`` in ``status``."""
    return f"{status}#{shard_of(job_id):02d}"


def shard_keys(status: str) -> list[str]:
    """Every partition key value of ``status``, shard 0 first."""
    return [f"{status}#{shard:02d}" for shard in range(STATUS_SHARDS)]


def listing_digest(*parts: str) -> str:
    """What a token is for (table, index, status, filters): a token is refused anywhere else."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:16]


def encode_positions(positions: Sequence[Position], digest: str) -> str | None:
    """The next_token of a merged listing; None when every shard is exhausted."""
    if all(position == DONE for position in positions):
        return None
    return encode_token({"l": digest, "p": [1 if p == DONE else (None if p is None else list(p)) for p in positions]})


def decode_positions(token: str | None, digest: str) -> list[Position]:
    """Each shard's position from a next_token; a forged, foreign or stale-shaped token is a 400."""
    if not token:
        return [None] * STATUS_SHARDS
    body = decode_token(token, digest=digest, fields={"p"}, max_chars=MAX_TOKEN_CHARS)
    invalid = BadRequestError("next_token is not a token this API issued for this listing.", code="invalid_next_token")
    entries = body["p"]
    if not isinstance(entries, list) or len(entries) != STATUS_SHARDS:
        raise invalid  # issued for another shard count (STATUS_SHARDS changed): start over
    positions: list[Position] = []
    for entry in entries:
        if entry is None:
            positions.append(None)
        elif entry == 1 and not isinstance(entry, bool):
            positions.append(DONE)
        elif (
            isinstance(entry, list)
            and len(entry) == 2
            and all(isinstance(v, str) and 0 < len(v) <= MAX_POSITION_CHARS for v in entry)
        ):
            positions.append((entry[0], entry[1]))
        else:
            raise invalid
    if all(position == DONE for position in positions):
        raise invalid  # never issued: an exhausted listing has no token
    return positions


def merge_newest_first(
    fetch: Fetch, positions: Sequence[Position], *, limit: int, max_fetches: int
) -> tuple[list[dict[str, Any]], list[Position]]:
    """Up to ``limit`` items from every shard, newest ``created_at`` first, and each shard's position after them.

    Each shard's items come newest first. An item is taken only when every shard that is not
    exhausted has one waiting, so nothing newer can be behind it; a shard whose buffer runs dry
    is read again. At most ``max_fetches`` shard reads in all (never fewer than one per shard):
    when they run out the page ends early, and the positions resume exactly there. A shard with
    items read but not taken resumes after its last item taken; one read dry resumes where its
    read stopped (past items a filter dropped), so every page moves the listing on.
    """
    shards = range(len(positions))
    max_fetches = max(max_fetches, len(positions))
    buffers: list[deque[dict[str, Any]]] = [deque() for _ in shards]
    next_start: list[Position] = list(positions)  # where each shard's next read starts, or DONE
    taken: list[Position] = list(positions)  # after each shard's last item taken
    fetches = 0
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        dry = [s for s in shards if not buffers[s] and next_start[s] != DONE]
        if dry:
            if fetches + len(dry) > max_fetches:
                break
            fetches += len(dry)
            for shard, (read, after) in zip(dry, fetch([(s, next_start[s]) for s in dry]), strict=True):
                buffers[shard].extend(read)
                next_start[shard] = DONE if after is None else after
            continue
        waiting = [s for s in shards if buffers[s]]
        if not waiting:
            break  # every shard exhausted
        shard = max(waiting, key=lambda s: (buffers[s][0]["created_at"], buffers[s][0]["id"]))
        item = buffers[shard].popleft()
        items.append(item)
        taken[shard] = (item["created_at"], item["id"])
    return items, [taken[s] if buffers[s] else next_start[s] for s in shards]


def take_in_turns(found: Sequence[Sequence[Any]], limit: int) -> list[Any]:
    """Up to ``limit`` items, one from each list in turn: a sweep over shards favours none of them."""
    taken: list[Any] = []
    for row in range(max((len(items) for items in found), default=0)):
        for items in found:
            if row < len(items):
                taken.append(items[row])
                if len(taken) == limit:
                    return taken
    return taken
