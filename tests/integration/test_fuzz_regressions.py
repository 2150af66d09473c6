"""Bugs the schemathesis run (tests/e2e/test_fuzz.py) found, each pinned by a fast in-process test."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Stack, assert_error, auth, token

CRON = {"name": "nightly", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-a"}
NOT_NULL = (
    "name",
    "description",
    "timezone",
    "configuration",
    "is_active",
    "priority",
    "max_retries",
    "tags",
    "misfire_policy",
    "overlap_policy",
)


@pytest.mark.parametrize("field", NOT_NULL)
def test_a_null_cron_field_is_a_400_on_create_put_and_patch_not_a_500(stack: Stack, owner_a: str, field: str) -> None:
    created = stack.post("/api/cron-jobs", CRON, owner_a)
    assert created.status_code == 201, created.json_body
    cron_id = created.json_body["job"]["id"]
    body = assert_error(stack.post("/api/cron-jobs", {**CRON, field: None}, owner_a), 400, "validation_error")
    assert body["details"][0]["field"] == field
    for method, fields in (("PUT", {**CRON, field: None}), ("PATCH", {field: None})):
        answer = stack.client.http.request(
            method, f"/api/cron-jobs/{cron_id}", headers=auth(owner_a), body=json.dumps(fields)
        )
        assert_error(answer, 400, "validation_error")


def test_null_still_clears_the_cron_limits(stack: Stack, owner_a: str) -> None:
    created = stack.post("/api/cron-jobs", {**CRON, "timeout_seconds": 60, "max_runs": 5}, owner_a).json_body["job"]
    answer = stack.client.http.request(
        "PATCH",
        f"/api/cron-jobs/{created['id']}",
        headers=auth(owner_a),
        body='{"timeout_seconds": null, "max_runs": null}',
    )
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["job"]["timeout_seconds"] is None
    assert answer.json_body["job"]["max_runs"] is None


def test_a_malformed_store_header_on_a_plugin_route_is_a_400_not_a_500(stack: Stack) -> None:
    plugin = token("plugin", stores=["store-a"], plugin_id="inventory-sync")
    headers = {**auth(plugin), "X-Tickwork-Store-Id": "s" * 300}
    response = stack.client.http.post("/api/inventory-sync/run", headers=headers, body=b"")
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("query", ["limit=abc&limit=", "status=failed&status=pending", "is_active=true&is_active=no"])
def test_a_query_parameter_given_twice_is_a_400_not_the_last_value(stack: Stack, admin: str, query: str) -> None:
    path = "/api/cron-jobs" if query.startswith("is_active") else "/api/background-jobs"
    body = assert_error(stack.get(f"{path}?{query}", admin), 400, "validation_error")
    assert body["details"][0]["message"] == "given more than once"
    assert stack.get(f"{path}?limit=5", admin).status_code == 200
