"""Items in the jobs table that are not jobs (rate-limit counters) never answer as jobs, nor as 500s.

API Gateway hands path parameters to the Lambda already URL-decoded, so
``/api/background-jobs/ratelimit%23store-a%23202611281200/status`` arrives with
``job_id = "ratelimit#store-a#202611281200"``: a counter's key. Chalice's local server and
``chalice.test.Client`` keep ``%23`` as is, so these tests build the Lambda event themselves.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from moto import mock_aws

import app as app_module
from chalicelib.clock import ManualClock
from chalicelib.config import Settings
from chalicelib.jobs.store import DynamoJobStore
from tests.conftest import T0, Stack, assert_error, built_stack, token
from tests.kit import COUNTER_ID, NOT_JOB_IDS, bare_store

JOB_ROUTES = [
    ("GET", "/api/background-jobs/{job_id}/status"),
    ("GET", "/api/background-jobs/{job_id}"),
    ("POST", "/api/background-jobs/{job_id}/cancel"),
    ("POST", "/api/background-jobs/{job_id}/retry"),
]
CRON_ROUTES = [
    ("GET", "/api/cron-jobs/{cron_id}", None),
    ("PATCH", "/api/cron-jobs/{cron_id}", {"description": "d"}),
    ("DELETE", "/api/cron-jobs/{cron_id}", None),
    ("POST", "/api/cron-jobs/{cron_id}/pause", None),
    ("POST", "/api/cron-jobs/{cron_id}/resume", None),
    ("POST", "/api/cron-jobs/{cron_id}/toggle", None),
    ("POST", "/api/cron-jobs/{cron_id}/run", None),
    ("GET", "/api/cron-jobs/{cron_id}/executions", None),
]
OWNERS = {
    "owner_a": lambda: token("store_owner", stores=["store-a"], sub="owner-a"),
    "owner_b": lambda: token("store_owner", stores=["store-b"], sub="owner-b"),
    "plugin_a": lambda: token("plugin", stores=["store-a"], plugin_id="my-plugin", sub="my-plugin"),
    "admin": lambda: token("admin"),
}


@pytest.fixture
def counted_stack(settings: Settings) -> Iterator[Stack]:
    # Under 100 a minute every scheduled job is counted at once, so the counter item exists.
    limited = dataclasses.replace(settings, max_jobs_per_minute_per_store=50)
    with built_stack(limited, ManualClock(T0)) as stack:
        stack.schedule(token("admin"))
        assert stack.runtime._jobs_table.get_item(Key={"id": COUNTER_ID}).get("Item"), "no counter item"
        yield stack


def gateway_call(method: str, resource: str, params: dict[str, str], tok: str, body: Any = None) -> Any:
    """Call the Lambda handler with the event API Gateway's REST proxy sends: path parameters decoded."""
    path = resource
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
        "multiValueHeaders": {"Authorization": [f"Bearer {tok}"], "Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": dict(params),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": "/api" + path,
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    answer = app_module.app(event, None)
    return SimpleNamespace(status_code=answer["statusCode"], json_body=json.loads(answer["body"]))


def count_calls(table: Any, operation: str) -> list[str]:
    """Record each ``operation`` the table's client sends (botocore's own event hooks)."""
    seen: list[str] = []
    table.meta.client.meta.events.register(
        f"before-call.dynamodb.{operation}", lambda params, **_: seen.append(str(params.get("Key")))
    )
    return seen


@pytest.mark.parametrize("who", list(OWNERS))
@pytest.mark.parametrize(("method", "resource"), JOB_ROUTES)
def test_a_counter_id_answers_404_to_every_caller_as_an_unused_one_does(
    counted_stack: Stack, who: str, method: str, resource: str
) -> None:
    tok = OWNERS[who]()
    used = gateway_call(method, resource, {"job_id": COUNTER_ID}, tok)
    unused = gateway_call(method, resource, {"job_id": "ratelimit#store-a#209912312359"}, tok)
    assert_error(used, 404, "job_not_found")
    assert_error(unused, 404, "job_not_found")
    assert used.json_body["error"].replace(COUNTER_ID, "ID") == unused.json_body["error"].replace(
        "ratelimit#store-a#209912312359", "ID"
    )


@pytest.mark.parametrize("job_id", NOT_JOB_IDS)
def test_an_id_no_job_can_have_is_404_before_dynamodb_is_asked(counted_stack: Stack, job_id: str) -> None:
    gets = count_calls(counted_stack.runtime._jobs_table, "GetItem")
    for method, resource in JOB_ROUTES:
        for who in ("owner_a", "owner_b"):
            assert_error(gateway_call(method, resource, {"job_id": job_id}, OWNERS[who]()), 404, "job_not_found")
    assert gets == []


@pytest.mark.parametrize("who", ["owner_a", "owner_b", "admin"])
@pytest.mark.parametrize(("method", "resource", "body"), CRON_ROUTES)
def test_cron_routes_answer_404_for_a_counter_id(
    counted_stack: Stack, who: str, method: str, resource: str, body: Any
) -> None:
    gets = count_calls(counted_stack.runtime.cron_store._table, "GetItem")
    answer = gateway_call(method, resource, {"cron_id": COUNTER_ID}, OWNERS[who](), body)
    assert_error(answer, 404, "cron_job_not_found")
    assert gets == []


def test_real_ids_still_answer_through_the_gateway_event(counted_stack: Stack) -> None:
    admin = OWNERS["admin"]()
    job = counted_stack.schedule(admin)
    answer = gateway_call("GET", "/api/background-jobs/{job_id}/status", {"job_id": job["id"]}, OWNERS["owner_a"]())
    assert answer.status_code == 200 and answer.json_body["job"]["id"] == job["id"]
    assert_error(
        gateway_call("GET", "/api/background-jobs/{job_id}/status", {"job_id": job["id"]}, OWNERS["owner_b"]()),
        404,
        "job_not_found",
    )
    cron = counted_stack.post(
        "/api/cron-jobs",
        {"name": "n", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-a"},
        admin,
    ).json_body["job"]
    found = gateway_call("GET", "/api/cron-jobs/{cron_id}", {"cron_id": cron["id"]}, OWNERS["owner_a"]())
    assert found.status_code == 200 and found.json_body["job"]["id"] == cron["id"]


# --- the store ------------------------------------------------------------------------


@pytest.fixture
def store() -> Iterator[DynamoJobStore]:
    with mock_aws():
        yield bare_store()


def test_the_store_reads_a_counter_item_as_no_job(store: DynamoJobStore) -> None:
    store._table.put_item(Item={"id": COUNTER_ID, "count": 3, "expires_at": 1_800_000_000})
    assert store.get(COUNTER_ID) is None


@pytest.mark.parametrize(
    "item",
    [
        {"id": "x", "type": "plugin:t:x"},  # no status, no store
        {"id": "x", "type": "plugin:t:x", "status": "exploded", "priority": "normal", "store_id": "s"},
        {"id": "x", "type": "plugin:t:x", "payload": "{not json"},
    ],
)
def test_the_store_reads_an_item_that_fails_validation_as_no_job(
    store: DynamoJobStore, item: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store._table.put_item(Item=item)
    assert store.get("x") is None
    assert "not a job" in caplog.text


def test_stats_items_carry_no_index_key_and_no_listing_shows_them(clocked_stack: Stack) -> None:
    admin = OWNERS["admin"]()
    job = clocked_stack.schedule(admin)
    drain = clocked_stack.poller.drain
    while clocked_stack.runtime.store.get(job["id"]).status.value != "completed":  # type: ignore[union-attr]
        drain()
    table = clocked_stack.runtime._jobs_table
    stats = [item for item in table.scan()["Items"] if str(item["id"]).startswith("stats#")]
    assert stats, "the batch wrote no stats item"
    index_keys = {"store_id", "status", "status_shard", "created_at", "cron_job_id", "tenant_shard"}
    assert all(not index_keys & set(item) for item in stats)
    for path in ("/api/background-jobs", "/api/background-jobs?status=completed"):
        listed = clocked_stack.get(path, admin).json_body["jobs"]
        assert [listed_job["id"] for listed_job in listed] == [job["id"]]
    for method, resource in JOB_ROUTES:
        assert_error(gateway_call(method, resource, {"job_id": str(stats[0]["id"])}, admin), 404, "job_not_found")
