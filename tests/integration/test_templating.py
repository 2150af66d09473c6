"""Configuration templates: checked at creation, rendered at run time, secrets never stored."""

from __future__ import annotations

import json

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Receiver, Stack, assert_error


def test_an_unknown_variable_in_a_cron_configuration_is_a_400(stack: Stack, admin: str) -> None:
    body = {
        "name": "n",
        "cron_expression": "0 2 * * *",
        "job_type": "webhook",
        "configuration": {"url": "https://example.com/hook", "body": {"at": "{{curent_time}}"}},
        "store_id": "store-a",
    }
    error = assert_error(stack.post("/api/cron-jobs", body, admin), 400, "unknown_template_variable")
    assert error["details"][0]["field"] == "configuration.body.at"


def test_a_plugin_payload_may_carry_braces_of_its_own(stack: Stack, admin: str) -> None:
    stack.schedule(admin, type="plugin:my-plugin:import", payload={"source": "{{not ours}}"})


def test_a_webhook_sends_the_rendered_time_and_secret_storing_neither(
    stack: Stack,
    admin: str,
    receiver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1",))
    stack.session.client("ssm").put_parameter(Name="/tickwork/dev/hooks/token", Value="tok-123", Type="SecureString")
    job = stack.schedule(
        admin,
        type="webhook",
        payload={
            "url": f"http://{receiver}/hook",
            "headers": {"Authorization": "Bearer {{secret:/tickwork/dev/hooks/token}}"},
            "body": {"event": "daily_sync", "timestamp": "{{current_time}}", "job": "{{job_id}}"},
        },
    )
    stack.poller.drain()
    assert stack.job(job["id"]).status == JobStatus.COMPLETED
    [request] = Receiver.received
    assert request["headers"]["Authorization"] == "Bearer tok-123"
    sent = json.loads(request["body"])
    assert sent["job"] == job["id"] and sent["timestamp"].endswith("Z") and "{{" not in sent["timestamp"]
    stored = stack.job(job["id"])
    # Never stored rendered.
    assert stored.payload["headers"]["Authorization"] == "Bearer {{secret:/tickwork/dev/hooks/token}}"
    shown = stack.get(f"/api/background-jobs/{job['id']}", admin).body.decode()
    assert "tok-123" not in shown


def test_a_missing_secret_fails_the_attempt_naming_it_but_no_value(stack: Stack, admin: str) -> None:
    job = stack.schedule(
        admin,
        type="webhook",
        payload={"url": "https://example.com/hook", "headers": {"X-Key": "{{secret:/tickwork/dev/nope}}"}},
        maxRetries=0,
    )
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "secret /tickwork/dev/nope is not an SSM parameter" in (failed.error or "")
