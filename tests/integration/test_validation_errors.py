"""Bad input is a 4xx in one shape, never a 500: the schedule endpoint's edges."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.auth import PLATFORM_STORE
from tests.conftest import Stack, assert_error, token

SCHEDULE = "/api/background-jobs/schedule"
IMPORT = "plugin:my-plugin:import"


def fields_named(body: dict[str, Any]) -> set[str]:
    return {detail["field"] for detail in body["details"]}


def valid(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": IMPORT, "storeId": "store-a", "payload": {"count": 1}}
    body.update(changes)
    return body


def raw_body(field: str, json_text: str) -> str:
    """A schedule body whose ``field`` holds ``json_text`` verbatim (for text json.dumps cannot write)."""
    return f'{{"type": "{IMPORT}", "storeId": "store-a", "{field}": {json_text}}}'


def stored_jobs(stack: Stack, admin: str) -> list[dict[str, Any]]:
    response = stack.get("/api/background-jobs?limit=100", admin)
    assert response.status_code == 200
    return list(response.json_body["jobs"])


# --- the body itself -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{", '{"type": "x",}', "not json at all", '{"type": NaN}', b"\xff\xfe\xfd"])
def test_malformed_json_answers_400_invalid_json(stack: Stack, admin: str, raw: str | bytes) -> None:
    assert_error(stack.post(SCHEDULE, raw, admin), 400, "invalid_json")


@pytest.mark.parametrize("raw", ["[1, 2]", "null", '"a string"', "42", "true"])
def test_a_body_that_is_not_an_object_answers_400(stack: Stack, admin: str, raw: str) -> None:
    assert_error(stack.post(SCHEDULE, raw, admin), 400, "invalid_json")


@pytest.mark.parametrize("raw", ["", "   \n"])
def test_an_empty_body_answers_400(stack: Stack, admin: str, raw: str) -> None:
    assert_error(stack.post(SCHEDULE, raw, admin), 400, "missing_body")


def test_a_request_without_any_body_answers_400(stack: Stack, admin: str) -> None:
    response = stack.client.http.post(SCHEDULE, headers={"Authorization": f"Bearer {admin}"})
    assert_error(response, 400, "missing_body")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_a_payload_are_refused_not_stored_as_null(stack: Stack, admin: str, constant: str) -> None:
    raw = raw_body("payload", f'{{"ratio": {constant}}}')
    assert_error(stack.post(SCHEDULE, raw, admin), 400, "invalid_json")
    assert stored_jobs(stack, admin) == []


@pytest.mark.parametrize("depth", [300, 100_000])
def test_absurdly_nested_json_answers_400_not_500(stack: Stack, admin: str, depth: int) -> None:
    raw = raw_body("payload", '{"x": ' + "[" * depth + "]" * depth + "}")
    body = assert_error(stack.post(SCHEDULE, raw, admin), 400, "validation_error")
    assert "nest" in body["error"]


def test_deeply_nested_metadata_answers_400_not_500(stack: Stack, admin: str) -> None:
    raw = raw_body("metadata", '{"x": ' + '{"a":' * 300 + "1" + "}" * 300 + "}")
    assert_error(stack.post(SCHEDULE, raw, admin), 400, "validation_error")


def test_moderately_nested_payloads_are_accepted(stack: Stack, admin: str) -> None:
    nested: Any = 1
    for _ in range(40):
        nested = {"level": nested}
    response = stack.post(SCHEDULE, valid(payload={"filters": {}, "tree": nested}), admin)
    assert response.status_code == 201, response.json_body
    job_id = response.json_body["job"]["id"]
    assert stack.get(f"/api/background-jobs/{job_id}", admin).json_body["job"]["payload"]["tree"] == nested


def test_text_plain_answers_415_in_our_shape(stack: Stack, admin: str) -> None:
    response = stack.client.http.post(
        SCHEDULE,
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/plain"},
        body='{"type": "plugin:my-plugin:import", "storeId": "store-a"}',
    )
    assert_error(response, 415, "unsupported_media_type")
    assert response.headers["Content-Type"] == "application/json"


def test_json_with_a_charset_is_accepted(stack: Stack, admin: str) -> None:
    response = stack.client.http.post(
        SCHEDULE,
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json; charset=utf-8"},
        body='{"type": "plugin:my-plugin:import", "storeId": "store-a"}',
    )
    assert response.status_code == 201, response.json_body


def test_a_method_the_route_lacks_answers_405_in_our_shape(stack: Stack, admin: str) -> None:
    response = stack.client.http.put(
        SCHEDULE, headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}, body="{}"
    )
    assert_error(response, 405, "method_not_allowed")


# --- sizes -----------------------------------------------------------------------------


def test_a_payload_over_256_kib_answers_413(stack: Stack, admin: str) -> None:
    body = assert_error(
        stack.post(SCHEDULE, valid(payload={"blob": "x" * (256 * 1024)}), admin), 413, "payload_too_large"
    )
    assert fields_named(body) == {"payload"}
    assert stored_jobs(stack, admin) == []


def test_a_payload_just_under_256_kib_is_accepted(stack: Stack, admin: str) -> None:
    response = stack.post(SCHEDULE, valid(payload={"blob": "x" * (255 * 1024)}), admin)
    assert response.status_code == 201, response.json_body


def test_a_body_over_the_request_limit_answers_413(stack: Stack, admin: str) -> None:
    assert_error(stack.post(SCHEDULE, valid(payload={"blob": "x" * (600 * 1024)}), admin), 413, "payload_too_large")


def test_metadata_over_16_kib_answers_413(stack: Stack, admin: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(metadata={"notes": "x" * 17_000}), admin), 413, "payload_too_large")
    assert fields_named(body) == {"metadata"}


# --- the type --------------------------------------------------------------------------


def test_an_unregistered_type_answers_400_unknown_job_type(stack: Stack, admin: str) -> None:
    body = assert_error(
        stack.post(SCHEDULE, valid(type="plugin:no-such-plugin:import"), admin), 400, "unknown_job_type"
    )
    assert fields_named(body) == {"type"}
    assert "plugin:no-such-plugin:import" in body["error"]


@pytest.mark.parametrize(
    "bad_type", ["Plugin:My Plugin:Import!", "plugin:my-plugin", "plugin::import", "../etc/passwd"]
)
def test_a_malformed_type_answers_400(stack: Stack, admin: str, bad_type: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(type=bad_type), admin), 400, "unknown_job_type")
    assert "malformed" in body["error"]


@pytest.mark.parametrize("bad_type", [5, None, ["plugin:my-plugin:import"], "x" * 200, "ab"])
def test_a_type_of_the_wrong_kind_or_length_answers_400(stack: Stack, admin: str, bad_type: Any) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(type=bad_type), admin), 400, "validation_error")
    assert fields_named(body) == {"type"}


def test_a_missing_type_answers_400_naming_it(stack: Stack, admin: str) -> None:
    body = valid()
    del body["type"]
    assert "type" in fields_named(assert_error(stack.post(SCHEDULE, body, admin), 400, "validation_error"))


# --- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"maxRetries": "x"}, "maxRetries"),
        ({"maxRetries": 2.5}, "maxRetries"),
        ({"maxRetries": True}, "maxRetries"),
        ({"max_retries": [3]}, "max_retries"),
        ({"payload": [1, 2, 3]}, "payload"),
        ({"payload": "source=api"}, "payload"),
        ({"metadata": ["a"]}, "metadata"),
        ({"storeId": 7}, "storeId"),
        ({"delay": "soon"}, "delay"),
        ({"delay": True}, "delay"),
        ({"run_at": "yesterday"}, "run_at"),
        ({"timeout_seconds": "long"}, "timeout_seconds"),
        ({"userId": {"id": 1}}, "userId"),
    ],
)
def test_a_field_of_the_wrong_type_answers_400_naming_the_field(
    stack: Stack, admin: str, changes: dict[str, Any], field: str
) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(**changes), admin), 400, "validation_error")
    assert field in fields_named(body), body
    assert field in body["error"]


def test_a_missing_store_id_is_a_400_when_the_token_has_several_stores(stack: Stack) -> None:
    body = valid()
    del body["storeId"]
    two_stores = token("store_owner", stores=["store-a", "store-b"])
    assert "store_id" in fields_named(assert_error(stack.post(SCHEDULE, body, two_stores), 400, "validation_error"))


def test_a_job_without_a_store_goes_to_the_callers_only_store_or_platform(stack: Stack, admin: str) -> None:
    body = valid()
    del body["storeId"]
    owner = token("store_owner", stores=["store-a"])
    assert stack.post(SCHEDULE, body, owner).json_body["job"]["store_id"] == "store-a"
    assert stack.post(SCHEDULE, body, admin).json_body["job"]["store_id"] == PLATFORM_STORE


@pytest.mark.parametrize("store_id", ["", "store a", "-leading-dash", "s" * 200, "store/../b"])
def test_a_malformed_store_id_answers_400(stack: Stack, admin: str, store_id: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(storeId=store_id), admin), 400, "validation_error")
    assert fields_named(body) == {"storeId"}


@pytest.mark.parametrize("field", ["bogus", "max_retry", "MaxRetries", "callback_url"])
def test_an_unknown_top_level_field_answers_400(stack: Stack, admin: str, field: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(**{field: 1}), admin), 400, "validation_error")
    assert fields_named(body) == {field}


@pytest.mark.parametrize("priority", ["critical", "HIGH", "", 1, None])
def test_an_unknown_priority_answers_400(stack: Stack, admin: str, priority: Any) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(priority=priority), admin), 400, "validation_error")
    assert fields_named(body) == {"priority"}


@pytest.mark.parametrize("key", ["maxRetries", "max_retries"])
def test_a_negative_max_retries_answers_400(stack: Stack, admin: str, key: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(**{key: -1}), admin), 400, "validation_error")
    assert fields_named(body) == {key}


def test_max_retries_of_1000_answers_400(stack: Stack, admin: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(maxRetries=1000), admin), 400, "validation_error")
    assert fields_named(body) == {"maxRetries"}
    assert stored_jobs(stack, admin) == []


def test_max_retries_at_the_limit_is_accepted(stack: Stack, admin: str) -> None:
    response = stack.post(SCHEDULE, valid(maxRetries=25), admin)
    assert response.status_code == 201
    assert response.json_body["job"]["max_retries"] == 25


def test_delay_and_run_at_together_answer_400(stack: Stack, admin: str) -> None:
    body = assert_error(
        stack.post(SCHEDULE, valid(delay=5, run_at="2026-12-01T00:00:00Z"), admin), 400, "validation_error"
    )
    assert "run_at" in fields_named(body)
    assert stored_jobs(stack, admin) == []


@pytest.mark.parametrize("delay", [-1, 400 * 24 * 3600])
def test_a_delay_out_of_range_answers_400(stack: Stack, admin: str, delay: int) -> None:
    assert fields_named(assert_error(stack.post(SCHEDULE, valid(delay=delay), admin), 400, "validation_error")) == {
        "delay"
    }


def test_a_run_at_without_a_timezone_answers_400(stack: Stack, admin: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(run_at="2026-12-01T02:00:00"), admin), 400, "validation_error")
    assert fields_named(body) == {"run_at"}


def test_a_run_at_more_than_a_year_ahead_answers_400(stack: Stack, admin: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(run_at="2099-01-01T00:00:00Z"), admin), 400, "validation_error")
    assert fields_named(body) == {"run_at"}


@pytest.mark.parametrize("timeout", [0, 8 * 24 * 3600])
def test_a_timeout_out_of_range_answers_400(stack: Stack, admin: str, timeout: int) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(timeout_seconds=timeout), admin), 400, "validation_error")
    assert fields_named(body) == {"timeout_seconds"}


@pytest.mark.parametrize("key", ["", "k" * 129])
def test_an_idempotency_key_out_of_range_answers_400(stack: Stack, admin: str, key: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(idempotency_key=key), admin), 400, "validation_error")
    assert fields_named(body) == {"idempotency_key"}


@pytest.mark.parametrize("plugin_id", [5, {"id": "p"}, "has spaces", "x" * 200])
def test_a_metadata_plugin_id_that_is_not_an_id_answers_400(stack: Stack, admin: str, plugin_id: Any) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(metadata={"pluginId": plugin_id}), admin), 400, "validation_error")
    assert fields_named(body) == {"metadata"}
    assert "pluginId" in body["error"]
    assert stored_jobs(stack, admin) == []


@pytest.mark.parametrize("plugin_id", ["has spaces", "x" * 200, ""])
def test_a_top_level_plugin_id_that_is_not_an_id_answers_400(stack: Stack, admin: str, plugin_id: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(pluginId=plugin_id), admin), 400, "validation_error")
    assert fields_named(body) == {"pluginId"}


def test_a_payload_the_job_type_refuses_is_a_400_naming_the_field(stack: Stack, admin: str) -> None:
    body = assert_error(stack.post(SCHEDULE, valid(payload={"count": "many"}), admin), 400, "validation_error")
    assert fields_named(body) == {"payload.count"}


def test_an_inventory_sync_without_its_store_id_answers_400(stack: Stack, admin: str) -> None:
    response = stack.post(SCHEDULE, valid(type="plugin:inventory-sync:full", payload={"syncType": "full"}), admin)
    assert fields_named(assert_error(response, 400, "validation_error")) == {"payload.storeId"}


def test_every_error_lists_every_field_at_fault(stack: Stack, admin: str) -> None:
    body = assert_error(
        stack.post(SCHEDULE, valid(priority="asap", maxRetries="x", bogus=1), admin), 400, "validation_error"
    )
    assert {"priority", "maxRetries", "bogus"} <= fields_named(body)


def test_a_rejected_request_stores_nothing_and_queues_nothing(stack: Stack, admin: str) -> None:
    for body in (
        valid(priority="asap"),
        valid(type="plugin:nope:x"),
        valid(maxRetries=1000),
        valid(delay=1, run_at="2026-12-01T00:00:00Z"),
    ):
        assert stack.post(SCHEDULE, body, admin).status_code == 400
    assert stored_jobs(stack, admin) == []
    assert stack.poller.drain() == 0
