"""The tenant trust boundary: admin-only types on every action, the reserved platform store, every path
that makes a job count against the store's rate limit, and a mask that never travels to a new destination."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.auth import PLATFORM_STORE
from chalicelib.clock import ManualClock, to_iso
from chalicelib.config import Settings
from chalicelib.jobs.store import JobFilter
from chalicelib.masking import MASK
from tests.conftest import T0, Stack, assert_error, built_stack, token
from tests.kit import at, tick

ADMIN = token("admin", sub="alice")
OWNER_A = token("store_owner", stores=["store-a"], sub="owner-a")
PLUGIN_P = token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p")
SCHEDULE = "/api/background-jobs/schedule"


def request(stack: Stack, tok: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    raw = json.dumps(body).encode() if body is not None else b""
    return stack.client.http.request(method, path, headers=headers, body=raw)


# --- admin-only types: every action --------------------------------------------------------

CLEANUP_CRON = {
    "name": "prune",
    "cron_expression": "0 3 * * *",
    "job_type": "cleanup",
    "store_id": "store-a",
    "configuration": {"older_than_days": 30},
}


def admin_only_world(stack: Stack) -> tuple[str, str]:
    """An admin's cleanup cron job and cleanup background job, both in store-a."""
    cron = request(stack, ADMIN, "POST", "/api/cron-jobs", CLEANUP_CRON).json_body["job"]["id"]
    job = stack.schedule(ADMIN, type="cleanup", payload={"older_than_days": 30, "dry_run": True})["id"]
    request(stack, ADMIN, "POST", f"/api/background-jobs/{job}/cancel")
    return cron, job


ACTIONS = {
    "cron.run": ("POST", "/api/cron-jobs/{cron}/run", None),
    "cron.pause": ("POST", "/api/cron-jobs/{cron}/pause", None),
    "cron.resume": ("POST", "/api/cron-jobs/{cron}/resume", None),
    "cron.toggle": ("POST", "/api/cron-jobs/{cron}/toggle", None),
    "cron.patch": ("PATCH", "/api/cron-jobs/{cron}", {"description": "mine now"}),
    "cron.put": ("PUT", "/api/cron-jobs/{cron}", CLEANUP_CRON),
    "cron.delete": ("DELETE", "/api/cron-jobs/{cron}", None),
    "job.retry": ("POST", "/api/background-jobs/{job}/retry", None),
    "job.cancel": ("POST", "/api/background-jobs/{job}/cancel", None),
}


TENANTS = {
    "owner_a": OWNER_A,
    "plugin_p": PLUGIN_P,
    "owner_b": token("store_owner", stores=["store-b"], sub="owner-b"),
    "plugin_q_of_b": token("plugin", stores=["store-b"], plugin_id="plugin-q", sub="plugin-q"),
}


@pytest.mark.parametrize("role", list(TENANTS))
def test_a_tenant_may_take_no_action_on_an_admin_only_job(stack: Stack, role: str) -> None:
    cron, job = admin_only_world(stack)
    got = {}
    for action, (method, path, body) in ACTIONS.items():
        response = request(stack, TENANTS[role], method, path.format(cron=cron, job=job), body)
        got[action] = (response.status_code, response.json_body.get("code"))
    # Only store-a's owner sees the admin's jobs (a plugin sees only its own): it sees, but may not touch.
    expected = (403, "admin_only_type") if role == "owner_a" else (404, "cron_job_not_found")
    job_expected = (403, "admin_only_type") if role == "owner_a" else (404, "job_not_found")
    assert got == {a: job_expected if a.startswith("job.") else expected for a in ACTIONS}
    assert stack.runtime.store.list(JobFilter(cron_job_id=cron), limit=10, next_token=None).jobs == []
    assert request(stack, ADMIN, "GET", f"/api/cron-jobs/{cron}").json_body["job"]["is_active"] is True


def test_an_admin_takes_every_action_on_an_admin_only_job(stack: Stack) -> None:
    cron, job = admin_only_world(stack)
    statuses = {
        action: request(stack, ADMIN, method, path.format(cron=cron, job=job), body).status_code
        for action, (method, path, body) in ACTIONS.items()
        if action != "job.cancel"
    }
    assert statuses == {
        "cron.run": 202,
        "cron.pause": 200,
        "cron.resume": 200,
        "cron.toggle": 200,
        "cron.patch": 200,
        "cron.put": 200,
        "cron.delete": 200,
        "job.retry": 202,
    }


# --- the platform pseudo-store --------------------------------------------------------------


def test_a_tenant_token_naming_the_platform_store_gains_nothing_from_it(stack: Stack) -> None:
    cron = request(stack, ADMIN, "POST", "/api/cron-jobs", {**CLEANUP_CRON, "store_id": None})
    assert cron.status_code == 201, cron.json_body
    cron_id = cron.json_body["job"]["id"]
    assert cron.json_body["job"]["store_id"] == PLATFORM_STORE
    impostor = token("store_owner", stores=[PLATFORM_STORE], sub="mallory")
    assert_error(request(stack, impostor, "GET", f"/api/cron-jobs/{cron_id}"), 404, "cron_job_not_found")
    assert_error(request(stack, impostor, "POST", f"/api/cron-jobs/{cron_id}/run"), 404, "cron_job_not_found")
    assert_error(request(stack, impostor, "GET", f"/api/cron-jobs?store_id={PLATFORM_STORE}"), 403, "store_forbidden")
    body = {"type": "plugin:my-plugin:import", "storeId": PLATFORM_STORE}
    assert_error(request(stack, impostor, "POST", SCHEDULE, body), 403, "store_forbidden")


# --- every path that makes a job counts against the store's rate limit ----------------------


@pytest.fixture
def limited(settings: Settings) -> Iterator[Stack]:
    with built_stack(dataclasses.replace(settings, max_jobs_per_minute_per_store=3), ManualClock(T0)) as stack:
        yield stack


def every_minute(stack: Stack, **fields: Any) -> str:
    body = {
        "name": "each minute",
        "cron_expression": "* * * * *",
        "job_type": "plugin:my-plugin:import",
        "store_id": "store-a",
        **fields,
    }
    response = request(stack, OWNER_A, "POST", "/api/cron-jobs", body)
    assert response.status_code == 201, response.json_body
    return str(response.json_body["job"]["id"])


def test_run_now_counts_against_the_store_rate_limit(limited: Stack) -> None:
    cron = every_minute(limited, is_active=False)
    answers = [request(limited, OWNER_A, "POST", f"/api/cron-jobs/{cron}/run").status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]
    assert limited.clock is not None
    limited.clock.advance(60)
    assert request(limited, OWNER_A, "POST", f"/api/cron-jobs/{cron}/run").status_code == 202


def test_retry_counts_against_the_store_rate_limit(limited: Stack) -> None:
    job = limited.schedule(OWNER_A)["id"]
    request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/cancel")
    assert request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/retry").status_code == 202
    request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/cancel")
    assert request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/retry").status_code == 202
    request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/cancel")
    assert_error(request(limited, OWNER_A, "POST", f"/api/background-jobs/{job}/retry"), 429, "rate_limited")
    assert limited.job(job).status.value == "cancelled"


def test_a_resume_fires_no_catch_up_the_tick_does_within_the_limit(limited: Stack) -> None:
    cron = every_minute(limited, misfire_policy="run_all")  # its 12:01 slot is queued as it is saved
    request(limited, OWNER_A, "POST", f"/api/cron-jobs/{cron}/pause")
    tick(limited, at(10))
    pauses_and_resumes = [
        request(limited, OWNER_A, "POST", f"/api/cron-jobs/{cron}/{action}").status_code
        for action in ("resume", "pause", "resume", "pause", "resume")
    ]
    assert pauses_and_resumes == [200] * 5

    def runs() -> list[str]:
        jobs = limited.runtime.store.list(JobFilter(cron_job_id=cron), limit=100, next_token=None).jobs
        return sorted(job.scheduled_at for job in jobs)

    # The requests queued nothing more: the missed slots, 12:02 to 12:10, wait for the tick.
    assert runs() == ["2026-11-28T12:01:00.000000Z"]
    first = tick(limited, at(10, 5))
    assert first.fired == 3 and first.rate_limited == 1
    fired = runs()
    for minute in range(11, 16):
        tick(limited, at(minute, 5))
        new = [slot for slot in runs() if slot not in fired]
        # Missed slots (more than the misfire grace late) are the catch-up: at most the limit a minute.
        assert len([slot for slot in new if slot < to_iso(at(minute - 2, 35))]) <= 3
        fired = runs()
    # Nothing was dropped: every missed slot ran, in order, then the on-time ones.
    assert fired == [to_iso(at(minute)) for minute in range(1, 17)]
    shown = request(limited, OWNER_A, "GET", f"/api/cron-jobs/{cron}").json_body["job"]
    assert shown["skipped_count"] == 0


# --- a mask is a promise about one destination ----------------------------------------------

WEBHOOK = {
    "name": "notify",
    "cron_expression": "0 2 * * *",
    "job_type": "webhook",
    "store_id": "store-a",
    "configuration": {
        "url": "https://partner.example/hook",
        "headers": {"X-Plugin-Key": "pk-live-0123456789abcdef"},
        "body": {"event": "daily"},
    },
}


def patch(stack: Stack, cron: str, body: dict[str, Any]) -> Any:
    return request(stack, OWNER_A, "PATCH", f"/api/cron-jobs/{cron}", body)


@pytest.fixture
def webhook_cron(stack: Stack) -> str:
    response = request(stack, PLUGIN_P, "POST", "/api/cron-jobs", WEBHOOK)
    assert response.status_code == 201, response.json_body
    return str(response.json_body["job"]["id"])


def stored_key(stack: Stack, cron: str) -> str:
    stored = stack.runtime.cron_store.get(cron)
    assert stored is not None
    return str(stored.configuration["headers"]["X-Plugin-Key"])


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://attacker.example/collect"},
        {"url": "https://partner.example/other-path"},
        {"url": "https://partner.example:8443/hook"},
    ],
)
def test_an_echoed_mask_is_refused_when_the_url_changes(
    stack: Stack, webhook_cron: str, change: dict[str, str]
) -> None:
    shown = request(stack, OWNER_A, "GET", f"/api/cron-jobs/{webhook_cron}").json_body["job"]["configuration"]
    assert shown["headers"]["X-Plugin-Key"] == MASK
    error = assert_error(
        patch(stack, webhook_cron, {"configuration": {**shown, **change}}), 400, "secret_reentry_required"
    )
    assert error["details"] == [{"field": "configuration.headers.X-Plugin-Key", "message": "re-enter the secret"}]
    assert stored_key(stack, webhook_cron) == "pk-live-0123456789abcdef"
    assert stack.runtime.cron_store.get(webhook_cron).configuration["url"] == WEBHOOK["configuration"]["url"]


def test_an_echoed_mask_is_refused_when_the_job_type_changes(stack: Stack, webhook_cron: str) -> None:
    shown = request(stack, OWNER_A, "GET", f"/api/cron-jobs/{webhook_cron}").json_body["job"]["configuration"]
    moved = {"job_type": "api_call", "configuration": {"url": "/api/anything", "headers": shown["headers"]}}
    assert_error(patch(stack, webhook_cron, moved), 400, "secret_reentry_required")


def test_an_echoed_mask_keeps_the_secret_only_for_the_same_destination(stack: Stack, webhook_cron: str) -> None:
    shown = request(stack, OWNER_A, "GET", f"/api/cron-jobs/{webhook_cron}").json_body["job"]["configuration"]
    assert patch(stack, webhook_cron, {"configuration": {**shown, "body": {"event": "nightly"}}}).status_code == 200
    assert stored_key(stack, webhook_cron) == "pk-live-0123456789abcdef"
    fresh = {**shown, "url": "https://mine.example/hook", "headers": {"X-Plugin-Key": "pk-mine-9876543210"}}
    assert patch(stack, webhook_cron, {"configuration": fresh}).status_code == 200
    assert stored_key(stack, webhook_cron) == "pk-mine-9876543210"


def test_a_masked_url_echoed_unchanged_is_the_same_destination(stack: Stack) -> None:
    body = {
        **WEBHOOK,
        "configuration": {**WEBHOOK["configuration"], "url": "https://partner.example/hook?api_key=k-123456789"},
    }
    cron = request(stack, OWNER_A, "POST", "/api/cron-jobs", body).json_body["job"]
    assert cron["configuration"]["url"] == f"https://partner.example/hook?api_key={MASK}"
    assert patch(stack, cron["id"], {"configuration": {**cron["configuration"], "body": {"x": 1}}}).status_code == 200
    assert stack.runtime.cron_store.get(cron["id"]).configuration["url"].endswith("api_key=k-123456789")


# --- email: the platform's sender, a tenant's smaller reach ---------------------------------


@pytest.fixture
def ses(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    stack.configure(monkeypatch, email_sender="reports@shop.example.com")
    stack.session.client("ses").verify_email_identity(EmailAddress="reports@shop.example.com")
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def email(stack: Stack, tok: str, recipients: int) -> Any:
    to = [f"r{i}@example.com" for i in range(recipients)]
    job = stack.schedule(tok, type="email", payload={"to": to, "subject": "s", "body": "b"}, maxRetries=0)
    stack.poller.drain()
    return stack.job(job["id"])


def test_a_tenants_email_has_at_most_ten_recipients_an_admins_fifty(stack: Stack, ses: Any) -> None:
    assert email(stack, OWNER_A, 10).status.value == "completed"
    refused = email(stack, PLUGIN_P, 11)
    assert refused.status.value == "failed" and "at most 10 recipients" in (refused.error or "")
    assert refused.attempts == 1
    assert email(stack, ADMIN, 50).status.value == "completed"
    assert len(ses.sent_messages) == 2
