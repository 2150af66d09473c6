"""The admin's view of each store's load: the stores listing through the sparse stores index, and
one store's backlog and oldest waiting job (chalicelib/api/store_load.py)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.stores.shards import STORE_SHARDS, TENANT_SHARD_ATTRIBUTE, store_shard, tenant_shard
from chalicelib.stores.slots import StoreLimits, slots_item_id
from tests.conftest import Stack, assert_error, token

STORES = "/api/admin/stores"
LOAD = "/api/admin/stores/{}/load"


def take(stack: Stack, store: str, n: int) -> None:
    now_s = stack.runtime.clock.now().timestamp()
    assert stack.runtime.store_slots.take(store, None, n, returning=0, now_s=now_s).n == n


def every_page(stack: Stack, admin: str, limit: int) -> list[list[dict[str, Any]]]:
    pages, next_token = [], None
    while True:
        path = f"{STORES}?limit={limit}" + (f"&next_token={next_token}" if next_token else "")
        answer = stack.get(path, admin)
        assert answer.status_code == 200, answer.json_body
        pages.append(answer.json_body["stores"])
        next_token = answer.json_body["next_token"]
        if next_token is None:
            return pages
        assert len(pages) < 100, "the listing never ends"


def test_every_slot_write_gives_the_item_its_shard_key(stack: Stack) -> None:
    slots = stack.runtime.store_slots
    table = stack.runtime.store._table
    take(stack, "store-t", 1)
    slots.set_limits("store-l", StoreLimits(max_running=3))
    for store in ("store-t", "store-l"):
        item = table.get_item(Key={"id": slots_item_id(store)})["Item"]
        assert item[TENANT_SHARD_ATTRIBUTE] == tenant_shard(store)


def test_the_listing_shows_each_stores_running_cap_and_waiting(stack: Stack, admin: str) -> None:
    stack.runtime.store_slots.set_limits("store-flood", StoreLimits(max_running=2))
    take(stack, "store-flood", 2)
    stack.runtime.store_slots.take("store-flood", None, 5, returning=0, now_s=stack.runtime.clock.now().timestamp())
    take(stack, "store-quiet", 1)
    listed = {store["store_id"]: store for page in every_page(stack, admin, 100) for store in page}
    assert listed["store-flood"] == {
        "store_id": "store-flood",
        "running": 2,
        "effective_max_running": 2,
        "waiting": 5,
        "mean_run_s": None,
        "paused": False,
    }
    assert listed["store-quiet"]["running"] == 1
    assert listed["store-quiet"]["effective_max_running"] == stack.runtime.settings.store_max_running
    # Jobs are not stores: nothing but slot items is listed.
    stack.schedule(admin, storeId="store-jobs-only")
    assert "store-jobs-only" not in listed and set(listed) == {"store-flood", "store-quiet"}


def test_pagination_lists_each_store_once_across_pages(stack: Stack, admin: str) -> None:
    stores = [f"store-{i:02d}" for i in range(37)]
    for store in stores:
        take(stack, store, 1)
    assert len({store_shard(s) for s in stores}) > 8, "the stores spread over the shards"
    for limit in (1, 5, 16, 100):
        pages = every_page(stack, admin, limit)
        seen = [store["store_id"] for page in pages for store in page]
        assert sorted(seen) == stores, limit
        assert all(len(page) <= limit for page in pages)


def token_of(body: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_forged_and_foreign_tokens_are_a_400(stack: Stack, admin: str) -> None:
    for i in range(3):
        take(stack, f"store-{i}", 1)
    issued = stack.get(f"{STORES}?limit=1", admin).json_body["next_token"]
    body = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    other_shard = next(s for s in range(STORE_SHARDS) if s != store_shard("store-0"))
    forged = [
        "not-a-token",
        "x" * 2000,
        token_of({**body, "l": "0" * 16}),
        token_of({**body, "s": STORE_SHARDS}),
        token_of({**body, "s": -1}),
        token_of({**body, "s": True}),
        token_of({**body, "s": other_shard, "a": "store-0"}),  # a store outside its shard
        token_of({**body, "a": "bad id"}),
        token_of({**body, "a": {"S": "x"}}),
        token_of([1, 2]),
        # A job listing's token is not this listing's.
        stack.get("/api/background-jobs?limit=1", admin).json_body["next_token"] or "eyJ9",
    ]
    stack.schedule(admin)
    stack.schedule(admin)
    forged.append(stack.get("/api/background-jobs?limit=1", admin).json_body["next_token"])
    for bad in forged:
        assert_error(stack.get(f"{STORES}?next_token={bad}", admin), 400, "invalid_next_token")
    assert_error(stack.get(f"{STORES}?limit=0", admin), 400, "validation_error")
    assert_error(stack.get(f"{STORES}?limit=abc", admin), 400, "validation_error")


@pytest.mark.parametrize("role", ["store_owner", "plugin"])
def test_only_an_admin_may_read_the_stores_load(stack: Stack, role: str) -> None:
    take(stack, "store-a", 1)
    tok = token(role, stores=["store-a"], plugin_id="acme" if role == "plugin" else None)
    assert_error(stack.get(STORES, tok), 403, "admin_only")
    assert_error(stack.get(LOAD.format("store-a"), tok), 403, "admin_only")


def test_a_store_id_no_store_can_have_is_a_400(stack: Stack, admin: str) -> None:
    assert_error(stack.get(LOAD.format("bad%20id"), admin), 400, "validation_error")
    assert_error(stack.get(LOAD.format("x" * 200), admin), 400, "validation_error")


def test_the_load_counts_the_backlog_and_names_the_oldest_waiting_job(stack: Stack, admin: str) -> None:
    stack.runtime.store_slots.set_limits("store-b", StoreLimits(max_running=0))  # nothing of it runs
    # Created first but not due: waiting in the backlog, not the oldest waiting job.
    ahead = (stack.runtime.clock.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = stack.schedule(admin, storeId="store-b", runAt=ahead)
    first = stack.schedule(admin, storeId="store-b", type="plugin:test-kit:chatty", payload={})
    for _ in range(3):
        stack.schedule(admin, storeId="store-b", type="plugin:test-kit:chatty", payload={})
    stack.schedule(admin, storeId="store-c", type="plugin:test-kit:chatty", payload={})
    stack.poller.drain()
    assert stack.job(first["id"]).status == JobStatus.PENDING
    load = stack.get(LOAD.format("store-b"), admin).json_body["load"]
    assert load["backlog"] == 5 and load["backlog_by_status"] == {"pending": 5, "retrying": 0}
    assert load["exact"] is True and load["effective_max_running"] == 0 and load["running"] == 0
    oldest = load["oldest_waiting"]
    assert oldest["id"] == first["id"] and oldest["id"] != later["id"]
    assert oldest["age_s"] >= 0 and oldest["waiting_since"] == first["scheduled_at"]


def test_a_store_with_nothing_waiting_has_no_oldest(stack: Stack, admin: str) -> None:
    load = stack.get(LOAD.format("store-empty"), admin).json_body["load"]
    assert load["backlog"] == 0 and load["oldest_waiting"] is None and load["exact"] is True
    assert load["running"] == 0 and load["paused"] is False


def test_past_its_page_budget_the_load_says_it_is_not_exact(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.stores import backlog

    monkeypatch.setattr(backlog, "MAX_OLDEST_PAGES", 1)
    table = stack.runtime.store._table
    real_query = table.query

    def small_pages(**request: Any) -> Any:
        return real_query(**{**request, "Limit": 1})

    stack.runtime.store_slots.set_limits("store-d", StoreLimits(max_running=0))
    done = stack.schedule(admin, storeId="store-d")
    table.update_item(
        Key={"id": done["id"]},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "completed"},
    )
    stack.schedule(admin, storeId="store-d")
    monkeypatch.setattr(table, "query", small_pages)
    load = stack.get(LOAD.format("store-d"), admin).json_body["load"]
    assert load["exact"] is False and load["oldest_waiting"] is None


def test_provisioning_adds_the_stores_index_to_a_table_made_before_it() -> None:
    import boto3
    from moto import mock_aws

    from chalicelib.aws.provision import ensure_table
    from chalicelib.jobs.store import jobs_table_definition
    from chalicelib.stores.shards import BY_TENANT_SHARD_INDEX

    definition = jobs_table_definition("old-jobs")
    older = {
        **definition,
        "GlobalSecondaryIndexes": [
            i for i in definition["GlobalSecondaryIndexes"] if i["IndexName"] != BY_TENANT_SHARD_INDEX
        ],
        "AttributeDefinitions": [
            a for a in definition["AttributeDefinitions"] if a["AttributeName"] != TENANT_SHARD_ATTRIBUTE
        ],
    }
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**older)
        ensure_table(dynamodb, definition)
        indexes = dynamodb.describe_table(TableName="old-jobs")["Table"]["GlobalSecondaryIndexes"]
        assert BY_TENANT_SHARD_INDEX in {index["IndexName"] for index in indexes}
