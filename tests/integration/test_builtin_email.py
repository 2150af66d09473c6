"""email jobs through moto's SES: the sent message is read back from SES itself."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack, assert_error

SENDER = "reports@shop.example.com"


@pytest.fixture
def ses(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """SES with the operator's verified sender, as a deployment sets it up."""
    stack.configure(monkeypatch, email_sender=SENDER)
    stack.session.client("ses").verify_email_identity(EmailAddress=SENDER)
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def email_job(stack: Stack, tok: str, **config: Any) -> dict[str, Any]:
    return stack.schedule(tok, type="email", payload=config, maxRetries=config.pop("retries", 0))


def test_the_guides_daily_report_is_rendered_from_its_template_and_sent(stack: Stack, admin: str, ses: Any) -> None:
    body = {
        "name": "Daily report",
        "cron_expression": "0 7 * * *",
        "timezone": "Asia/Tokyo",
        "job_type": "email",
        "configuration": {
            "to": "admin@example.com",
            "subject": "Daily Report",
            "template": "daily-report",
            "data": {"reportDate": "{{current_date}}", "metrics": {"orders": 12, "<b>refunds</b>": 1}},
        },
        "store_id": "store-a",
    }
    created = stack.post("/api/cron-jobs", body, admin)
    assert created.status_code == 201, created.json_body
    run = stack.post(f"/api/cron-jobs/{created.json_body['job']['id']}/run", {}, admin)
    stack.poller.drain()
    done = stack.job(run.json_body["execution"]["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    [message] = ses.sent_messages
    assert message.source == SENDER and message.destinations["ToAddresses"] == ["admin@example.com"]
    assert message.subject == "Daily Report"
    assert "Daily report for 20" in message.body and "{{" not in message.body
    assert "&lt;b&gt;refunds&lt;/b&gt;" in message.body  # the HTML part escapes data
    assert done.result["message_id"] and done.result["template"] == "daily-report"


def test_a_plain_body_goes_to_many_recipients_with_cc_and_bcc(stack: Stack, owner_a: str, ses: Any) -> None:
    job = email_job(
        stack,
        owner_a,
        to=["a@example.com", "b@example.com"],
        cc=["c@example.com"],
        bcc=["d@example.com"],
        subject="Stock low",
        body="Store {{store_id}}: 3 products are low.",
    )
    stack.poller.drain()
    assert stack.job(job["id"]).status == JobStatus.COMPLETED
    [message] = ses.sent_messages
    assert message.destinations == {
        "ToAddresses": ["a@example.com", "b@example.com"],
        "CcAddresses": ["c@example.com"],
        "BccAddresses": ["d@example.com"],
    }
    assert message.body == "Store store-a: 3 products are low."


def test_a_template_value_missing_from_data_fails_at_once_naming_it(stack: Stack, admin: str, ses: Any) -> None:
    job = email_job(stack, admin, to="a@example.com", subject="x", template="daily-report", retries=3)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert "'reportDate' is undefined" in (failed.error or "")
    assert ses.sent_messages == []


def test_an_unverified_sender_is_refused_by_ses_and_the_job_fails(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, email_sender="nobody@unverified.example.com")
    job = email_job(stack, admin, to="a@example.com", subject="x", body="hi", retries=3)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert "MessageRejected" in (failed.error or "")


def test_without_a_configured_sender_the_job_fails_naming_the_setting(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, email_sender=None)
    job = email_job(stack, admin, to="a@example.com", subject="x", body="hi")
    stack.poller.drain()
    assert "TICKWORK_EMAIL_SENDER is not set" in (stack.job(job["id"]).error or "")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"to": "not-an-address", "subject": "x", "body": "b"}, "is not an email address"),
        ({"to": [], "subject": "x", "body": "b"}, "at least 1"),
        ({"to": "a@example.com", "subject": "x\r\nBcc: all@example.com", "body": "b"}, "must be one line"),
        ({"to": "a@example.com", "subject": "x", "template": "../../etc/passwd"}, "unknown template"),
        ({"to": "a@example.com", "subject": "x", "template": "weekly"}, "daily-report"),
        ({"to": "a@example.com", "subject": "x"}, "either template"),
        ({"to": "a@example.com", "subject": "x", "body": "b", "template": "daily-report"}, "either template"),
        ({"to": "a@example.com", "subject": "x", "body": "b", "from": "ceo@example.com"}, "Extra inputs"),
    ],
)
def test_bad_email_configurations_are_a_400(stack: Stack, admin: str, config: dict[str, Any], fragment: str) -> None:
    response = stack.post(
        "/api/background-jobs/schedule", {"type": "email", "storeId": "store-a", "payload": config}, admin
    )
    body = assert_error(response, 400, "validation_error")
    assert fragment in str(body["details"]), body
