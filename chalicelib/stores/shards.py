"""Where a store's slot item sits in the stores index: its shard key (pure).

Stores are found without a scan through a sparse index of the jobs table keyed by
``tenant_shard`` = ``"stores#<nn>"``, ``nn`` a stable hash of the store id modulo STORE_SHARDS.
Only slot items carry the attribute, so the index holds one entry per store that ever ran a job
or had limits set. Every slot write rewrites the attribute, so its partition takes a share of the
slot writes of about 1/STORE_SHARDS of the stores, and a reader of every store sends
STORE_SHARDS queries.
"""

from __future__ import annotations

from chalicelib.partitions import stable_shard

# Changing it moves every slot item to another key at its next write: until then a listing
# misses the stores that have not written since.
STORE_SHARDS = 16
TENANT_SHARD_ATTRIBUTE = "tenant_shard"
BY_TENANT_SHARD_INDEX = "by_tenant_shard"
# What the index copies of a slot item: the load a listing shows. Holders and per-plugin counts
# stay out, so an index write stays one write unit however many batches hold slots. A new field
# here means a new index (DynamoDB cannot change an index's projection).
LISTED_ATTRIBUTES = ("running", "waiting", "mean_run_s", "max_running", "max_running_per_plugin", "paused")


def store_shard(store_id: str) -> int:
    return stable_shard(store_id, STORE_SHARDS)


def tenant_shard(store_id: str) -> str:
    """The stores index's partition key value for ``store_id``'s slot item."""
    return shard_key(store_shard(store_id))


def shard_key(shard: int) -> str:
    return f"stores#{shard:02d}"
