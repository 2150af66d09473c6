"""Configuration templates: checked at creation, rendered at run time, secrets never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.errors import BadRequestError
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.templating import check_placeholders, job_variables, render
from tests.conftest import Receiver, Stack, assert_error

NOW = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)


def variables(timezone: str = "UTC") -> dict[str, str]:
    return job_variables(
        job_id="j1",
        store_id="s1",
        cron_job_id="c1",
        scheduled_at="2026-11-28T23:30:00.000000Z",
        timezone=timezone,
        now=NOW,
    )


def test_the_guides_current_time_is_rendered_not_sent_literally() -> None:
    body = {"event": "daily_sync", "timestamp": "{{current_time}}"}
    assert render(body, variables(), lambda kind, name: "") == {
        "event": "daily_sync",
        "timestamp": "2026-11-28T23:30:00Z",
    }


def test_current_date_is_the_cron_jobs_own_calendar_day() -> None:
    assert render("{{current_date}}", variables("UTC"), lambda k, n: "") == "2026-11-28"
    assert render("{{current_date}}", variables("Asia/Tokyo"), lambda k, n: "") == "2026-11-29"


def test_env_and_secret_placeholders_go_through_the_resolver() -> None:
    seen = []

    def resolve(kind: str, name: str) -> str:
        seen.append((kind, name))
        return f"<{kind}:{name}>"

    assert render({"h": ["Bearer {{secret:api/token}}", "{{ env:REGION }}"]}, variables(), resolve) == {
        "h": ["Bearer <secret:api/token>", "<env:REGION>"]
    }
    assert seen == [("secret", "api/token"), ("env", "REGION")]


@pytest.mark.parametrize("text", ["{{current_tmie}}", "{{secret:}}", "{{vault:x}}", "{{ job_id:x }}"])
def test_an_unknown_or_malformed_placeholder_is_refused_with_its_path(text: str) -> None:
    with pytest.raises(BadRequestError) as error:
        check_placeholders({"body": {"items": ["ok", text]}}, "configuration")
    assert error.value.code == "unknown_template_variable"
    assert error.value.details[0]["field"] == "configuration.body.items[1]"


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


def test_a_webhook_run_sends_the_rendered_time_and_secret_and_stores_neither(
    stack: Stack,
    admin: str,
    receiver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWORK_WEBHOOK_ALLOWLIST", "127.0.0.1")
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
