"""The status index's shard key, the merged listing's token, and the newest-first merge (pure)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest

from chalicelib.errors import BadRequestError
from chalicelib.jobs.shards import (
    DONE,
    MAX_TOKEN_CHARS,
    STATUS_SHARDS,
    Position,
    decode_positions,
    encode_positions,
    merge_newest_first,
    shard_keys,
    shard_of,
    status_shard,
    take_in_turns,
)

DIGEST = "0123456789abcdef"


def test_a_jobs_shard_is_fixed_across_processes() -> None:
    # blake2b, not hash(): the same id maps to the same key in every Lambda container and release.
    assert shard_of("6b0c8f4e-2a77-4e52-9a6e-6c7f3f0b9d11") == 8
    assert status_shard("running", "6b0c8f4e-2a77-4e52-9a6e-6c7f3f0b9d11") == "running#08"


def test_ids_spread_evenly_over_the_shards() -> None:
    spread = Counter(shard_of(f"job-{n}") for n in range(16_000))
    assert set(spread) == set(range(STATUS_SHARDS))
    assert max(spread.values()) < 1.15 * 16_000 / STATUS_SHARDS


def test_shard_keys_name_every_shard_of_a_status() -> None:
    keys = shard_keys("failed")
    assert len(keys) == STATUS_SHARDS and keys[0] == "failed#00" and keys[-1] == f"failed#{STATUS_SHARDS - 1:02d}"


# --- the token ------------------------------------------------------------------------------


def forge(body: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_a_token_round_trips_each_shards_position() -> None:
    positions: list[Position] = [None] * STATUS_SHARDS
    positions[0] = DONE
    positions[3] = ("2026-11-28T12:00:00.000000Z", "job-3")
    token = encode_positions(positions, DIGEST)
    assert token is not None and len(token) <= MAX_TOKEN_CHARS
    assert decode_positions(token, DIGEST) == positions


def test_no_token_starts_every_shard_and_a_finished_listing_has_none() -> None:
    assert decode_positions(None, DIGEST) == [None] * STATUS_SHARDS
    assert encode_positions([DONE] * STATUS_SHARDS, DIGEST) is None


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        forge(["a list"]),
        forge({"l": "another-listing!", "p": [None] * STATUS_SHARDS}),
        forge({"l": DIGEST, "p": [None] * (STATUS_SHARDS - 1)}),
        forge({"l": DIGEST, "p": [None] * STATUS_SHARDS, "x": 1}),
        forge({"l": DIGEST, "p": [["created", 7]] + [None] * (STATUS_SHARDS - 1)}),
        forge({"l": DIGEST, "p": [["", "id"]] + [None] * (STATUS_SHARDS - 1)}),
        forge({"l": DIGEST, "p": [["c" * 257, "id"]] + [None] * (STATUS_SHARDS - 1)}),
        forge({"l": DIGEST, "p": [True] + [None] * (STATUS_SHARDS - 1)}),
        forge({"l": DIGEST, "p": [1] * STATUS_SHARDS}),
        "A" * (MAX_TOKEN_CHARS + 1),
    ],
    ids=[
        "garbage",
        "not-an-object",
        "other-listing",
        "other-shard-count",
        "extra-field",
        "non-string",
        "empty-string",
        "too-long-string",
        "boolean",
        "all-done",
        "oversized",
    ],
)
def test_a_forged_or_foreign_token_is_a_400(token: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        decode_positions(token, DIGEST)
    assert refused.value.code == "invalid_next_token"


# --- the merge ------------------------------------------------------------------------------


class FakeShards:
    """Shards of items newest first, read ``chunk`` at a time, as a DynamoDB Query with Limit would."""

    def __init__(self, shards: list[list[dict[str, Any]]], chunk: int, keep: Any = lambda item: True) -> None:
        self.shards = shards
        self.chunk = chunk
        self.keep = keep  # a FilterExpression: applied after Limit
        self.reads = 0

    def fetch(self, requests: list[tuple[int, Position]]) -> list[tuple[list[dict[str, Any]], Position]]:
        answers = []
        for shard, start in requests:
            self.reads += 1
            items = self.shards[shard]
            begin = (
                0
                if start is None
                else next(i for i, it in enumerate(items) if (it["created_at"], it["id"]) == start) + 1
            )
            read = items[begin : begin + self.chunk]
            more = begin + self.chunk < len(items)
            last = (read[-1]["created_at"], read[-1]["id"]) if more else None
            answers.append(([it for it in read if self.keep(it)], last))
        return answers


def spread(count: int, shards: int = 4) -> list[list[dict[str, Any]]]:
    """``count`` items with distinct times, dealt unevenly over ``shards``, each shard newest first."""
    dealt: list[list[dict[str, Any]]] = [[] for _ in range(shards)]
    for n in range(count):
        dealt[(n * n) % shards].append({"id": f"j{n:03d}", "created_at": f"t{n:03d}"})
    return [sorted(s, key=lambda it: it["created_at"], reverse=True) for s in dealt]


def page_through(fake: FakeShards, *, limit: int, max_fetches: int = 64) -> list[str]:
    positions: list[Position] = [None] * len(fake.shards)
    seen: list[str] = []
    for _ in range(500):
        items, positions = merge_newest_first(fake.fetch, positions, limit=limit, max_fetches=max_fetches)
        assert len(items) <= limit
        seen.extend(it["id"] for it in items)
        if all(p == DONE for p in positions):
            return seen
    raise AssertionError("the listing never ended")


def test_a_merge_takes_the_newest_of_every_shard_first() -> None:
    items, _ = merge_newest_first(FakeShards(spread(40), chunk=3).fetch, [None] * 4, limit=10, max_fetches=64)
    assert [it["id"] for it in items] == [f"j{n:03d}" for n in range(39, 29, -1)]


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
def test_paging_a_merge_returns_every_item_once_newest_first(limit: int) -> None:
    assert page_through(FakeShards(spread(40), chunk=2), limit=limit) == [f"j{n:03d}" for n in range(39, -1, -1)]


def test_a_filtered_merge_skips_nothing_across_pages() -> None:
    fake = FakeShards(spread(60), chunk=3, keep=lambda it: int(it["id"][1:]) % 7 == 0)
    assert page_through(fake, limit=2) == [f"j{n:03d}" for n in range(59, -1, -1) if n % 7 == 0]


def test_a_merge_out_of_reads_ends_early_and_resumes_there() -> None:
    fake = FakeShards(spread(60), chunk=1, keep=lambda it: it["id"] == "j000")  # almost everything filtered
    # Four reads a page (one per shard): pages come back short, but each one moves on.
    assert page_through(fake, limit=5, max_fetches=4) == ["j000"]


def test_a_page_reads_each_shard_about_once() -> None:
    fake = FakeShards(spread(400, shards=16), chunk=4)
    merge_newest_first(fake.fetch, [None] * 16, limit=20, max_fetches=64)
    assert fake.reads <= 16 + 8


def test_turns_take_one_from_each_shard_before_a_second() -> None:
    assert take_in_turns([[1, 2, 3], [], [4], [5, 6]], 4) == [1, 4, 5, 2]
    assert take_in_turns([[1], [2]], 10) == [1, 2]
