"""Masking in the cron job API: the guide's plugin key is masked in every answer but kept for the run."""

from __future__ import annotations

import json

from chalicelib.masking import MASK
from tests.conftest import Stack


def test_the_guides_plugin_key_is_masked_in_answers_but_kept_for_the_run(stack: Stack, admin: str) -> None:
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
