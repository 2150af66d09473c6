"""Stats read a bounded number of DynamoDB pages per request, however many jobs a store holds.

DynamoDB ends a page at 1 MB; moto does the same at ``RESULT_SIZE_LIMIT`` bytes. Shrinking that
to a few jobs' worth makes a few dozen jobs span many pages, so a small page budget is exceeded
without a large data set. Requests are counted with botocore's own ``before-call`` hook on the
table's client: every Query the store sends, as DynamoDB would receive it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.model import Job
from chalicelib.jobs.shards import STATUS_SHARDS
from chalicelib.jobs.store import MAX_PAGES_PER_COUNT, DynamoJobStore
from tests.conftest import Stack, token
from tests.kit import bare_store

NOW = "2026-11-28T12:00:00.000000Z"
BUDGET = 4
# A stored job here is ~400 bytes: about three to a page.
SMALL_PAGE_BYTES = 1200


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("moto.dynamodb.models.table.RESULT_SIZE_LIMIT", SMALL_PAGE_BYTES)


def queries_sent(table: Any) -> list[dict[str, Any]]:
    """The body of every Query the table's client sends from now on."""
    sent: list[dict[str, Any]] = []
    table.meta.client.meta.events.register(
        "before-call.dynamodb.Query", lambda params, **_: sent.append(json.loads(params["body"]))
    )
    return sent


def add_jobs(store: DynamoJobStore, count: int, *, status: JobStatus = JobStatus.PENDING, **fields: Any) -> None:
    defaults: dict[str, Any] = {"store_id": "store-a", "plugin_id": "p1"}
    for _ in range(count):
        store.create(
            Job(
                id=str(uuid.uuid4()),
                type="plugin:my-plugin:import",
                priority=Priority.NORMAL,
                status=status,
                created_at=NOW,
                updated_at=NOW,
                scheduled_at=NOW,
                **{**defaults, **fields},
            )
        )


@pytest.fixture
def store() -> Iterator[DynamoJobStore]:
    with mock_aws():
        yield bare_store(max_count_pages=BUDGET)


# --- the store ------------------------------------------------------------------------


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize(
    ("stores", "plugin_id"), [(["store-a"], None), (None, None), (["store-a"], "p1")], ids=["store", "all", "plugin"]
)
def test_counting_past_the_budget_stops_there_and_says_so(
    store: DynamoJobStore, stores: list[str] | None, plugin_id: str | None
) -> None:
    add_jobs(store, 30)
    sent = queries_sent(store._table)
    tally = store.count_by_status(stores, plugin_id=plugin_id)
    # Every store's count reads the status index: the same jobs over STATUS_SHARDS key values.
    assert len(sent) == (BUDGET * STATUS_SHARDS if stores is None else BUDGET)
    assert tally.exact is False
    assert 0 < tally.counts["pending"] < 30  # a lower bound: some pages were never read


@pytest.mark.usefixtures("small_pages")
def test_the_budget_is_shared_in_turns_so_no_status_starves(store: DynamoJobStore) -> None:
    add_jobs(store, 30, status=JobStatus.COMPLETED)
    add_jobs(store, 1, status=JobStatus.FAILED)
    store.max_count_pages = len(JobStatus) + 2
    tally = store.count_by_status(["store-a"])
    assert tally.exact is False
    assert tally.counts["failed"] == 1  # its one page was read before completed's second
    assert 0 < tally.counts["completed"] < 30


@pytest.mark.usefixtures("small_pages")
def test_a_plugins_count_is_one_filtered_pass_over_the_store_index(
    store: DynamoJobStore,
) -> None:
    add_jobs(store, 2, plugin_id="p1")
    add_jobs(store, 1, plugin_id="p1", status=JobStatus.FAILED)
    add_jobs(store, 3, plugin_id="p2")
    store.max_count_pages = MAX_PAGES_PER_COUNT
    sent = queries_sent(store._table)
    tally = store.count_by_status(["store-a"], plugin_id="p1")
    assert tally.exact is True
    assert (tally.counts["pending"], tally.counts["failed"], sum(tally.counts.values())) == (2, 1, 3)
    assert {request["IndexName"] for request in sent} == {"by_store"}
    assert all(request["ProjectionExpression"] == "#st" for request in sent)  # statuses only, not whole jobs


def test_small_stores_are_counted_exactly_in_one_page_a_status(store: DynamoJobStore) -> None:
    add_jobs(store, 3)
    add_jobs(store, 2, status=JobStatus.COMPLETED, store_id="store-b")
    store.max_count_pages = MAX_PAGES_PER_COUNT
    sent = queries_sent(store._table)
    mine = store.count_by_status(["store-a"])
    assert (mine.exact, mine.counts["pending"], sum(mine.counts.values())) == (True, 3, 3)
    assert len(sent) == len(JobStatus)
    everyone = store.count_by_status(None)
    assert (everyone.exact, everyone.counts["pending"], everyone.counts["completed"]) == (True, 3, 2)


def test_more_stores_than_the_budget_covers_still_stop_at_the_budget(store: DynamoJobStore) -> None:
    sent = queries_sent(store._table)
    tally = store.count_by_status([f"store-{n}" for n in range(50)])
    assert len(sent) == BUDGET and tally.exact is False


# --- the route ------------------------------------------------------------------------

TOKENS = {
    "admin": lambda: token("admin"),
    "owner": lambda: token("store_owner", stores=["store-a"], sub="owner-a"),
    "plugin": lambda: token("plugin", stores=["store-a"], plugin_id="p1", sub="p1"),
}


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("who", list(TOKENS))
def test_stats_on_a_large_store_read_the_budget_and_say_exact_false(stack: Stack, who: str) -> None:
    add_jobs(stack.runtime.store, 40)
    stack.runtime.store.max_count_pages = BUDGET
    sent = queries_sent(stack.runtime._jobs_table)
    answer = stack.get("/api/background-jobs/stats", TOKENS[who]())
    assert answer.status_code == 200, answer.json_body
    stats = answer.json_body["stats"]
    budget = BUDGET * STATUS_SHARDS if who == "admin" else BUDGET  # the admin's counts every store
    assert len(sent) <= budget, f"{len(sent)} queries for one stats request"
    assert stats["exact"] is False
    assert 0 < stats["counts"]["pending"] < 40 and stats["total"] == sum(stats["counts"].values())


@pytest.mark.parametrize("who", list(TOKENS))
def test_stats_on_a_small_store_are_exact_as_before(stack: Stack, who: str) -> None:
    add_jobs(stack.runtime.store, 2)
    add_jobs(stack.runtime.store, 1, status=JobStatus.FAILED, plugin_id="p2")
    stats = stack.get("/api/background-jobs/stats", TOKENS[who]()).json_body["stats"]
    expected = {"pending": 2} if who == "plugin" else {"pending": 2, "failed": 1}
    assert {status: n for status, n in stats["counts"].items() if n} == expected
    assert stats["total"] == sum(expected.values()) and stats["exact"] is True
    assert ("queues" in stats) == (who == "admin")
