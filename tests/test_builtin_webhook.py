"""webhook jobs against a real HTTP server on loopback, and the SSRF guard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.lifecycle import JobStatus
from tests.conftest import Receiver, Stack, assert_error


def webhook(stack: Stack, tok: str, url: str, **config: Any) -> dict[str, Any]:
    return stack.schedule(tok, type="webhook", payload={"url": url, **config}, maxRetries=0)


def test_a_webhook_to_an_allow_listed_server_delivers_its_body_and_records_the_answer(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWORK_WEBHOOK_ALLOWLIST", "127.0.0.1/32")
    job = webhook(stack, admin, f"http://{receiver}/hook", body={"event": "daily_sync"}, headers={"X-Test": "1"})
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["status_code"] == 200 and done.result["body"] == '{"ok": true}'
    assert done.result["elapsed_ms"] >= 0
    [request] = Receiver.received
    assert json.loads(request["body"]) == {"event": "daily_sync"}
    assert request["headers"]["X-Test"] == "1"


def test_a_non_2xx_answer_fails_the_attempt(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWORK_WEBHOOK_ALLOWLIST", "127.0.0.1")
    job = webhook(stack, admin, f"http://{receiver}/fail")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "answered 500" in (failed.error or "")


def test_a_loopback_target_is_refused_without_the_allow_list(stack: Stack, admin: str, receiver: str) -> None:
    port = receiver.split(":")[1]
    job = webhook(stack, admin, f"http://localhost:{port}/hook")  # a name that resolves to loopback
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused: localhost resolves to" in (failed.error or "")
    assert Receiver.received == []


def test_a_redirect_to_an_address_not_allowed_is_refused(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.split(":")[1]
    monkeypatch.setenv("TICKWORK_WEBHOOK_ALLOWLIST", "localhost")  # the first hop's host only
    job = webhook(stack, admin, f"http://localhost:{port}/hop?to=http://127.0.0.1:{port}/inside")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused: 127.0.0.1" in (failed.error or "")
    assert [r["path"] for r in Receiver.received] == [f"/hop?to=http://127.0.0.1:{port}/inside"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "ftp://example.com/file",
        "not a url",
    ],
)
def test_internal_literal_addresses_and_other_schemes_are_a_400_at_creation(stack: Stack, admin: str, url: str) -> None:
    response = stack.post(
        "/api/background-jobs/schedule", {"type": "webhook", "storeId": "store-a", "payload": {"url": url}}, admin
    )
    body = assert_error(response, 400, "validation_error")
    assert body["details"][0]["field"] == "payload.url"
