"""A key's shard among N: how the sharded indexes (jobs by status, cron jobs by due time) spread
one hot partition key over N, each item keeping its shard for life (pure)."""

from __future__ import annotations

import hashlib


def stable_shard(key: str, shards: int) -> int:
    """``key``'s shard in ``range(shards)``: the same in every process and release (Python's
    ``hash()`` is salted per process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
