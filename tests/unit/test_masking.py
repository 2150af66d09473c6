"""Secrets in configurations and payloads never come back through the API."""

from __future__ import annotations

import json

import pytest

from chalicelib.masking import MASK, is_sensitive, keep_masked, mask
from tests.conftest import Stack


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "authorization",
        "X-Plugin-Key",
        "api_key",
        "apiKey",
        "X-API-KEY",
        "access_token",
        "refreshToken",
        "client_secret",
        "password",
        "Cookie",
        "aws_credentials",
    ],
)
def test_credential_keys_are_sensitive(key: str) -> None:
    assert is_sensitive(key)


@pytest.mark.parametrize("key", ["url", "method", "keyboard", "monkey_count", "body", "event", "timeout", "keys"])
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_sensitive(key)


def test_mask_reaches_nested_headers_and_lists() -> None:
    value = {"headers": {"Authorization": "Bearer abc", "Accept": "json"}, "items": [{"password": "p", "n": 1}]}
    assert mask(value) == {"headers": {"Authorization": MASK, "Accept": "json"}, "items": [{"password": MASK, "n": 1}]}
    assert value["headers"]["Authorization"] == "Bearer abc"  # a copy: the stored value is untouched


def test_the_guides_plugin_key_is_masked_in_every_cron_job_response_but_kept_for_the_run(
    stack: Stack, admin: str
) -> None:
    body = {
        "name": "Daily Product Sync",
        "cron_expression": "0 2 * * *",
        "job_type": "api_call",
        "configuration": {"url": "/api/my-plugin/sync", "method": "POST", "headers": {"X-Plugin-Key": "s3cr3t-value"}},
        "store_id": "store-a",
    }
    created = stack.post("/api/cron-jobs", body, admin)
    assert created.status_code == 201
    cron_id = created.json_body["job"]["id"]
    responses = [
        created,
        stack.get(f"/api/cron-jobs/{cron_id}", admin),
        stack.get("/api/cron-jobs?store_id=store-a", admin),
        stack.post(f"/api/cron-jobs/{cron_id}/run", {}, admin),
    ]
    execution_id = responses[-1].json_body["execution"]["id"]
    responses += [
        stack.get(f"/api/cron-jobs/{cron_id}/executions", admin),
        stack.get(f"/api/background-jobs/{execution_id}", admin),
        stack.get(f"/api/background-jobs/{execution_id}/status", admin),
        stack.get("/api/background-jobs?store_id=store-a", admin),
    ]
    for response in responses:
        assert response.status_code in (200, 201, 202)
        assert "s3cr3t-value" not in response.body.decode()
    stored = stack.runtime.cron_store.get(cron_id)
    assert stored is not None and stored.configuration["headers"]["X-Plugin-Key"] == "s3cr3t-value"


def test_putting_back_a_masked_cron_job_keeps_its_secret(stack: Stack, admin: str) -> None:
    body = {
        "name": "sync",
        "cron_expression": "0 2 * * *",
        "job_type": "api_call",
        "configuration": {"url": "/api/my-plugin/sync", "headers": {"X-Plugin-Key": "s3cr3t-value"}},
        "store_id": "store-a",
    }
    shown = stack.post("/api/cron-jobs", body, admin).json_body["job"]
    assert shown["configuration"]["headers"]["X-Plugin-Key"] == MASK
    echoed = {k: shown[k] for k in ("name", "cron_expression", "job_type", "configuration")}
    echoed["name"] = "renamed"
    response = stack.client.http.put(
        f"/api/cron-jobs/{shown['id']}",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
        body=json.dumps(echoed),
    )
    assert response.status_code == 200, response.json_body
    stored = stack.runtime.cron_store.get(shown["id"])
    assert stored is not None and stored.name == "renamed"
    assert stored.configuration["headers"]["X-Plugin-Key"] == "s3cr3t-value"


def test_credentials_in_a_url_are_masked_and_an_echoed_mask_keeps_them() -> None:
    stored = {"url": "https://bot:pa55@hooks.example.com/x?api_key=k-123&page=2&token="}
    shown = mask(stored)
    assert shown == {"url": "https://bot:********@hooks.example.com/x?api_key=********&page=2&token="}
    assert keep_masked(shown, stored) == stored
    changed = {"url": "https://hooks.example.com/y?api_key=********"}
    assert keep_masked(changed, stored) == changed  # a different URL is the client's own
