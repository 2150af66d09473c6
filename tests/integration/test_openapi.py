"""The OpenAPI document: every route is in it, it is valid 3.1, and real answers match it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import app as app_module
from chalicelib.api.openapi import build_spec
from tests.conftest import Stack, auth, token

SPEC = build_spec(app_module.app)


def test_the_spec_is_served_without_a_token(stack: Stack) -> None:
    response = stack.client.http.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == json.loads(json.dumps(SPEC))


# --- real answers against the documented schemas ---------------------------------------------


class Conformance:
    """Sends requests through the Chalice test client; checks each answer against the spec."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.checked: list[tuple[str, str, int]] = []

    def call(self, method: str, template: str, tok: str | None, body: Any = None, **params: str) -> Any:
        path = template.format(**params)
        headers = auth(tok) if tok else {"Content-Type": "application/json"}
        raw = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        response = self.stack.client.http.request(method, path, headers=headers, body=raw or b"")
        self.check(method, template.split("?")[0], response)
        return response

    def check(self, method: str, template: str, response: Any) -> None:
        operation = SPEC["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {template} answered undocumented {status}: {response.body}"
        documented = operation["responses"][status]
        if "$ref" in documented:
            documented = SPEC["components"]["responses"][documented["$ref"].rsplit("/", 1)[-1]]
        schema = documented["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": SPEC["components"]})
        body = json.loads(response.body)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method} {template} {status}: {[f'{list(e.path)}: {e.message}' for e in errors[:5]]}"
        self.checked.append((method, template, response.status_code))


@pytest.fixture
def conformance(stack: Stack) -> Iterator[Conformance]:
    yield Conformance(stack)


def test_background_job_answers_match_the_spec(conformance: Conformance, admin: str, owner_a: str) -> None:
    c = conformance
    body = {"type": "plugin:my-plugin:import", "storeId": "store-a", "payload": {"count": 2}, "idempotency_key": "k1"}
    job = c.call("POST", "/api/background-jobs/schedule", owner_a, body).json_body["job"]
    assert c.call("POST", "/api/background-jobs/schedule", owner_a, body).status_code == 200  # repeated key
    later = {"type": "plugin:my-plugin:import", "storeId": "store-a", "delay": 3600, "metadata": {"k": "v"}}
    delayed = c.call("POST", "/api/background-jobs/schedule", owner_a, later).json_body["job"]
    c.call("GET", "/api/background-jobs", owner_a)
    c.call("GET", "/api/background-jobs?status=pending&limit=1", admin)
    c.call("GET", "/api/background-jobs/stats", owner_a)
    c.call("GET", "/api/background-jobs/stats", admin)
    c.call("GET", "/api/background-jobs/{job_id}/status", owner_a, job_id=job["id"])
    c.call("GET", "/api/background-jobs/{job_id}", admin, job_id=job["id"])
    assert c.call("POST", "/api/background-jobs/{job_id}/cancel", owner_a, job_id=delayed["id"]).status_code == 200
    assert c.call("POST", "/api/background-jobs/{job_id}/retry", owner_a, job_id=delayed["id"]).status_code == 202
    # The errors of these routes, each in the documented shape.
    assert c.call("POST", "/api/background-jobs/schedule", owner_a, {"type": "x"}).status_code == 400
    assert c.call("POST", "/api/background-jobs/schedule", owner_a, "{not json").status_code == 400
    foreign = {"type": "plugin:my-plugin:import", "storeId": "store-b"}
    assert c.call("POST", "/api/background-jobs/schedule", owner_a, foreign).status_code == 403
    assert c.call("GET", "/api/background-jobs?limit=0", owner_a).status_code == 400
    assert c.call("GET", "/api/background-jobs", None).status_code == 401
    assert c.call("GET", "/api/background-jobs/{job_id}", owner_a, job_id="nope").status_code == 404
    assert c.call("POST", "/api/background-jobs/{job_id}/retry", owner_a, job_id=job["id"]).status_code == 409
    huge = {"type": "plugin:my-plugin:import", "storeId": "store-a", "payload": {"blob": "x" * (1024 * 1024)}}
    assert c.call("POST", "/api/background-jobs/schedule", owner_a, huge).status_code == 413
    wrong_type = conformance.stack.client.http.post(
        "/api/background-jobs/schedule", headers={"Authorization": f"Bearer {owner_a}", "Content-Type": "text/plain"}
    )
    c.check("POST", "/api/background-jobs/schedule", wrong_type)
    assert wrong_type.status_code == 415


def test_batch_answers_match_the_spec(conformance: Conformance, admin: str, owner_a: str) -> None:
    c = conformance
    child = {"type": "plugin:my-plugin:import", "payload": {"count": 1}}
    body = {
        "store_id": "store-a",
        "jobs": [child, child],
        "on_complete": {"type": "plugin:my-plugin:import"},
        "description": "two",
        "idempotency_key": "b1",
    }
    batch = c.call("POST", "/api/background-jobs/batches", owner_a, body).json_body["batch"]
    assert c.call("POST", "/api/background-jobs/batches", owner_a, body).status_code == 200  # repeated key
    c.call("GET", "/api/background-jobs/batches/{batch_id}", owner_a, batch_id=batch["id"])
    c.call("GET", "/api/background-jobs/batches?store_id=store-a&limit=1", owner_a)
    c.call("GET", "/api/background-jobs/batches?status=open", owner_a)
    assert c.call("GET", "/api/background-jobs/batches", admin).status_code == 400  # an admin names a store
    assert c.call("GET", "/api/background-jobs/batches?store_id=store-b", owner_a).status_code == 403
    c.call("GET", "/api/background-jobs/batches/{batch_id}/jobs?limit=1", owner_a, batch_id=batch["id"])
    c.call("GET", "/api/background-jobs/batches/{batch_id}/jobs?status=pending", admin, batch_id=batch["id"])
    cancelled = c.call("POST", "/api/background-jobs/batches/{batch_id}/cancel", owner_a, batch_id=batch["id"])
    assert cancelled.json_body["batch"]["status"] == "finished"
    # Final: its callbacks show their jobs.
    c.call("GET", "/api/background-jobs/batches/{batch_id}", owner_a, batch_id=batch["id"])
    assert c.call("POST", "/api/background-jobs/batches", owner_a, {**body, "jobs": []}).status_code == 400
    foreign = {**body, "store_id": "store-b", "idempotency_key": None}
    assert c.call("POST", "/api/background-jobs/batches", owner_a, foreign).status_code == 403
    missing = c.call("GET", "/api/background-jobs/batches/{batch_id}", owner_a, batch_id="nope")
    assert missing.status_code == 404
    wrong = c.call("GET", "/api/background-jobs/batches/{batch_id}/jobs?status=x", owner_a, batch_id=batch["id"])
    assert wrong.status_code == 400


def test_cron_job_answers_match_the_spec(conformance: Conformance, admin: str, owner_a: str) -> None:
    c = conformance
    fields = {
        "name": "nightly",
        "cron_expression": "0 2 * * *",
        "job_type": "plugin:my-plugin:import",
        "store_id": "store-a",
        "configuration": {"count": 1},
    }
    cron = c.call("POST", "/api/cron-jobs", owner_a, fields).json_body["job"]
    cron_id = cron["id"]
    c.call("GET", "/api/cron-jobs", owner_a)
    c.call("GET", "/api/cron-jobs?is_active=true&limit=5", admin)
    c.call("POST", "/api/cron-jobs/preview", owner_a, {"cron_expression": "*/5 * * * *", "count": 3})
    c.call("GET", "/api/cron-jobs/{cron_id}", owner_a, cron_id=cron_id)
    c.call("PUT", "/api/cron-jobs/{cron_id}", owner_a, {**fields, "name": "renamed"}, cron_id=cron_id)
    c.call("PATCH", "/api/cron-jobs/{cron_id}", owner_a, {"description": "d", "tags": ["a"]}, cron_id=cron_id)
    c.call("POST", "/api/cron-jobs/{cron_id}/pause", owner_a, cron_id=cron_id)
    c.call("POST", "/api/cron-jobs/{cron_id}/resume", owner_a, cron_id=cron_id)
    c.call("POST", "/api/cron-jobs/{cron_id}/toggle", owner_a, cron_id=cron_id)
    assert c.call("POST", "/api/cron-jobs/{cron_id}/run", owner_a, cron_id=cron_id).status_code == 202
    executions = c.call("GET", "/api/cron-jobs/{cron_id}/executions", owner_a, cron_id=cron_id).json_body
    assert len(executions["executions"]) == 1
    assert c.call("POST", "/api/cron-jobs/preview", owner_a, {"cron_expression": "0 0 31 2 *"}).status_code == 400
    assert c.call("POST", "/api/cron-jobs", owner_a, {**fields, "store_id": "store-b"}).status_code == 403
    assert c.call("GET", "/api/cron-jobs?is_active=maybe", owner_a).status_code == 400
    assert c.call("PATCH", "/api/cron-jobs/{cron_id}", owner_a, {"nope": 1}, cron_id=cron_id).status_code == 400
    assert c.call("DELETE", "/api/cron-jobs/{cron_id}", owner_a, cron_id=cron_id).status_code == 200
    assert c.call("GET", "/api/cron-jobs/{cron_id}", owner_a, cron_id=cron_id).status_code == 404


def test_meta_and_plugin_answers_match_the_spec(conformance: Conformance, admin: str, owner_a: str) -> None:
    c = conformance
    c.call("GET", "/api/health", None)
    c.call("GET", "/api/job-types", owner_a)
    c.call("GET", "/api/job-types", admin)
    assert c.call("POST", "/api/my-plugin/sync", owner_a).status_code == 202
    assert c.call("POST", "/api/my-plugin/sync", owner_a, {"storeId": "store-a", "count": 2}).status_code == 202
    assert c.call("POST", "/api/my-plugin/sync", owner_a, {"count": "many"}).status_code == 400
    plugin = token("plugin", stores=["store-a"], plugin_id="inventory-sync")
    assert c.call("POST", "/api/inventory-sync/run", plugin, {"storeId": "store-a"}).status_code == 202
    assert c.call("POST", "/api/inventory-sync/run", plugin, {"syncType": "weekly"}).status_code == 400
