"""Which {{env:}} and {{secret:}} a job may reference: refused at creation, refused again at run time.

The rule is chalicelib/references.py (docs/templates.md). A store owner of store-a, a plugin of
store-a and an admin put each reference in the bodies, headers and URLs of webhook, email and
api_call jobs and cron jobs; jobs saved around the rule (written straight to DynamoDB) fail when
they run, and a real receiving server records that nothing was sent.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.auth import Role
from chalicelib.config import Settings
from chalicelib.crons.model import cron_to_item
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import job_to_item
from chalicelib.rights import Rights
from tests.conftest import Receiver, Stack
from tests.references_matrix import (
    ADMIN,
    ALLOWED,
    DATABASE_URL_SECRET,
    ENV_ALLOWLIST,
    OWNER_A,
    PLUGIN_P,
    PRINCIPALS,
    REFUSED,
    SIGNING_PARAMETER,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        jwt_secret_parameter=SIGNING_PARAMETER,
        database_url_secret=DATABASE_URL_SECRET,
        job_env_allowlist=ENV_ALLOWLIST,
    )


def placements(job_type: str, reference: str) -> list[tuple[str, dict[str, Any]]]:
    """(the field the 400 must name, a configuration with the reference there) for each place it may go."""
    if job_type == "webhook":
        base: dict[str, Any] = {"url": "https://example.com/hook", "headers": {"X-A": "1"}, "body": {"k": "v"}}
        return [
            ("payload.url", {**base, "url": f"https://example.com/hook?k={reference}"}),
            ("payload.headers.X-K", {**base, "headers": {"X-K": reference}}),
            ("payload.body.k", {**base, "body": {"k": reference}}),
        ]
    if job_type == "api_call":
        base = {"url": "/api/x", "headers": {"X-A": "1"}, "body": {"k": "v"}}
        return [
            ("payload.url", {**base, "url": f"/api/x?k={reference}"}),
            ("payload.headers.X-K", {**base, "headers": {"X-K": reference}}),
            ("payload.body.k", {**base, "body": {"k": reference}}),
        ]
    base = {"to": "ops@example.com", "subject": "s", "body": "b"}
    return [
        ("payload.to", {**base, "to": reference}),
        ("payload.subject", {**base, "subject": f"about {reference}"}),
        ("payload.body", {**base, "body": f"see {reference}"}),
    ]


def cron_body(job_type: str, configuration: dict[str, Any], name: str = "n") -> dict[str, Any]:
    return {
        "name": name,
        "cron_expression": "0 3 * * *",
        "job_type": job_type,
        "store_id": "store-a",
        "configuration": configuration,
    }


def mismatch(response: Any, reference: str, field: str, refused: bool) -> str | None:
    """Why ``response`` is not what the rule says (None when it is)."""
    body = response.json_body
    if not refused:
        return None if response.status_code in (200, 201) else f"{reference} at {field}: refused {body}"
    if response.status_code != 400 or body.get("code") != "forbidden_template_reference":
        return f"{reference} at {field}: {response.status_code} {body}"
    detail = body["details"][0]
    if detail["field"] != field or reference not in detail["message"]:
        return f"{reference} at {field}: names {detail}"
    return None


# --- the rule itself (pure) -------------------------------------------------------------------


# --- creation: a 400 naming the field -----------------------------------------------------------


@pytest.mark.parametrize("job_type", ["webhook", "email", "api_call"])
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_background_jobs_refuse_each_forbidden_reference_naming_its_field(
    stack: Stack, who: str, job_type: str
) -> None:
    problems = []
    for reference in [*REFUSED, *ALLOWED]:
        refused = who in REFUSED.get(reference, frozenset())
        for field, payload in placements(job_type, reference):
            body = {"type": job_type, "storeId": "store-a", "payload": payload, "delay": 3600}
            response = stack.post("/api/background-jobs/schedule", body, PRINCIPALS[who])
            problems.append(mismatch(response, reference, field, refused))
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("job_type", ["webhook", "email", "api_call"])
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_cron_jobs_refuse_each_forbidden_reference_on_create_put_and_patch(
    stack: Stack, who: str, job_type: str
) -> None:
    tok = PRINCIPALS[who]
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    [(_, valid)] = placements(job_type, "{{store_id}}")[:1]
    existing = stack.post("/api/cron-jobs", cron_body(job_type, valid, "kept"), tok)
    assert existing.status_code == 201, existing.json_body
    path = f"/api/cron-jobs/{existing.json_body['job']['id']}"
    problems = []
    for reference in [*REFUSED, *ALLOWED]:
        refused = who in REFUSED.get(reference, frozenset())
        for field, configuration in placements(job_type, reference):
            field = field.replace("payload", "configuration")
            body = cron_body(job_type, configuration)
            problems.append(mismatch(stack.post("/api/cron-jobs", body, tok), reference, field, refused))
            put = stack.client.http.put(path, headers=headers, body=json.dumps(body))
            problems.append(mismatch(put, reference, field, refused))
            patch = stack.client.http.patch(path, headers=headers, body=json.dumps({"configuration": configuration}))
            problems.append(mismatch(patch, reference, field, refused))
    assert [p for p in problems if p] == []


# --- run time: jobs saved around the rule ---------------------------------------------------------


@pytest.fixture
def reachable(receiver: str, monkeypatch: pytest.MonkeyPatch, stack: Stack) -> Iterator[str]:
    """The receiver, reachable by webhooks; the platform's secrets and a store-b secret put where they live."""
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1",))
    ssm = stack.session.client("ssm")
    ssm.put_parameter(Name=SIGNING_PARAMETER, Value="jwt-signing-value-5150", Type="SecureString")
    ssm.put_parameter(Name="/tickwork/dev/stores/store-b/x", Value="store-b-value-6061", Type="SecureString")
    ssm.put_parameter(Name="/tickwork/dev/ops/token", Value="ops-token-value-7072", Type="SecureString")
    ssm.put_parameter(Name="/tickwork/dev/stores/store-a/api-key", Value="store-a-ssm-8083", Type="SecureString")
    stack.session.client("secretsmanager").create_secret(
        Name="tickwork/dev/stores/store-a/sm-key", SecretString="store-a-sm-9094"
    )
    yield f"http://{receiver}/hook"


REVEALING = {
    "{{env:TICKWORK_JWT_SECRET}}": "test-secret-0123456789abcdef",
    "{{env:AWS_SECRET_ACCESS_KEY}}": None,  # whatever the process has
    "{{secret:/tickwork/dev/jwt-secret}}": "jwt-signing-value-5150",
    "{{secret:/tickwork/dev/stores/store-b/x}}": "store-b-value-6061",
    "{{secret:/tickwork/dev/stores/store-a/../store-b/x}}": "store-b-value-6061",
}


def put_job(stack: Stack, job: Any) -> None:
    """Writes a job item as an older release (or a changed record) left it, past every creation check."""
    item = json.loads(json.dumps(job_to_item(job)), parse_float=Decimal)
    stack.session.resource("dynamodb").Table(stack.runtime.settings.jobs_table).put_item(Item=item)


def assert_failed_naming_only(stack: Stack, job_id: str, reference: str, value: str | None) -> None:
    failed = stack.job(job_id)
    assert failed.status == JobStatus.FAILED and failed.attempts == 1, (failed.status, failed.attempts)
    assert "forbidden template reference" in (failed.error or "") and reference in (failed.error or "")
    if value:
        assert value not in json.dumps({"error": failed.error, "logs": failed.logs, "result": failed.result})
    assert Receiver.received == []


@pytest.mark.parametrize("reference", sorted(REVEALING))
def test_a_job_saved_before_the_rule_fails_at_run_time_sending_nothing(
    stack: Stack, reachable: str, reference: str
) -> None:
    job = stack.schedule(OWNER_A, type="webhook", payload={"url": reachable, "body": {"k": "v"}}, maxRetries=3)
    saved = stack.job(job["id"])
    put_job(stack, saved.model_copy(update={"payload": {"url": reachable, "body": {"k": reference}}, "rights": None}))
    stack.poller.drain()
    value = REVEALING[reference] or os.environ.get("AWS_SECRET_ACCESS_KEY")
    assert_failed_naming_only(stack, job["id"], reference, value)


def test_a_job_with_lowered_rights_no_longer_reads_the_admins_parameter(stack: Stack, reachable: str) -> None:
    reference = "{{secret:/tickwork/dev/ops/token}}"
    job = stack.schedule(ADMIN, type="webhook", payload={"url": reachable, "body": {"k": reference}}, maxRetries=3)
    lowered = Rights(role=Role.STORE_OWNER, subject="owner-a", stores=["store-a"])
    put_job(stack, stack.job(job["id"]).model_copy(update={"rights": lowered}))
    stack.poller.drain()
    assert_failed_naming_only(stack, job["id"], reference, "ops-token-value-7072")


def test_a_cron_job_saved_before_the_rule_fails_each_run_and_sends_nothing(stack: Stack, reachable: str) -> None:
    cron = stack.post("/api/cron-jobs", cron_body("webhook", {"url": reachable, "body": {"k": "v"}}), OWNER_A)
    assert cron.status_code == 201, cron.json_body
    stored = stack.runtime.cron_store.get(cron.json_body["job"]["id"])
    reference = "{{secret:/tickwork/dev/jwt-secret}}"
    old = stored.model_copy(update={"configuration": {"url": reachable, "body": {"k": reference}}, "rights": None})
    table = stack.session.resource("dynamodb").Table(stack.runtime.settings.cron_jobs_table)
    table.put_item(Item=json.loads(json.dumps(cron_to_item(old)), parse_float=Decimal))
    run = stack.post(f"/api/cron-jobs/{stored.id}/run", {}, OWNER_A)
    assert run.status_code == 202, run.json_body
    stack.poller.drain()
    assert_failed_naming_only(stack, run.json_body["execution"]["id"], reference, "jwt-signing-value-5150")


# --- what is allowed reaches the receiver ----------------------------------------------------------


def test_published_env_and_the_stores_own_secrets_reach_the_receiver(
    stack: Stack, reachable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.set_job_env(monkeypatch, TICKWORK_PUBLIC_SHOP_DOMAIN="shop.example.com", SHOP_REGION="eu-north")
    body = {str(i): reference for i, reference in enumerate(ALLOWED)}
    job = stack.schedule(OWNER_A, type="webhook", payload={"url": reachable, "body": body})
    cron = stack.post("/api/cron-jobs", cron_body("webhook", {"url": reachable, "body": body}), PLUGIN_P)
    assert cron.status_code == 201, cron.json_body
    run = stack.post(f"/api/cron-jobs/{cron.json_body['job']['id']}/run", {}, PLUGIN_P).json_body["execution"]
    stack.poller.drain()
    for job_id in (job["id"], run["id"]):
        assert stack.job(job_id).status == JobStatus.COMPLETED, stack.job(job_id).error
    expected = {"0": "shop.example.com", "1": "eu-north", "2": "store-a-ssm-8083", "3": "store-a-sm-9094"}
    assert [json.loads(request["body"]) for request in Receiver.received] == [expected, expected]


def test_an_admin_reads_a_parameter_under_the_stage_folder(stack: Stack, reachable: str) -> None:
    job = stack.schedule(
        ADMIN,
        type="webhook",
        payload={"url": reachable, "headers": {"X-Ops": "{{secret:/tickwork/dev/ops/token}}"}, "body": {}},
    )
    stack.poller.drain()
    assert stack.job(job["id"]).status == JobStatus.COMPLETED, stack.job(job["id"]).error
    [request] = Receiver.received
    assert request["headers"]["X-Ops"] == "ops-token-value-7072"


# --- a revealed value never shows in a validation error ------------------------------------------


@pytest.mark.parametrize("value", ["not-an-address-secret-7781", "a@b"])
def test_an_email_to_from_a_secret_fails_validation_without_showing_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    sender = "reports@shop.example.com"
    stack.configure(monkeypatch, email_sender=sender)
    stack.session.client("ses").verify_email_identity(EmailAddress=sender)
    ses = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    stack.session.client("ssm").put_parameter(Name="/tickwork/dev/stores/store-a/to", Value=value, Type="SecureString")
    caplog.set_level(logging.DEBUG, logger="tickwork")
    job = stack.schedule(
        OWNER_A,
        type="email",
        payload={"to": "{{secret:/tickwork/dev/stores/store-a/to}}", "subject": "s", "body": "b"},
        maxRetries=0,
    )
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    shown = stack.get(f"/api/background-jobs/{job['id']}", OWNER_A).body.decode()
    left = json.dumps({"error": failed.error, "logs": failed.logs, "result": failed.result}) + shown + caplog.text
    assert value not in left
    assert "to: invalid once its templates were rendered" in (failed.error or ""), failed.error
    assert ses.sent_messages == []
