"""The guide's full example, for real: a plugin's declared daily cron makes an api_call over HTTP
to the plugin's own route, which schedules the plugin's job, which runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.clock import to_iso
from chalicelib.crons.model import PLATFORM_STORE
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.store import JobFilter
from chalicelib.runtime import Runtime
from tests.conftest import Stack

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # the served stack's clock: conftest's T0


def declared_crons(stack: Stack, admin: str) -> list[dict[str, Any]]:
    crons = stack.get(f"/api/cron-jobs?store_id={PLATFORM_STORE}", admin).json_body["jobs"]
    return [c for c in crons if c["declared_by"] == "plugin:inventory-sync:daily-sync"]


def jobs_of_type(stack: Stack, job_type: str, store_id: str) -> list[Any]:
    return stack.runtime.store.list(JobFilter(store_id=store_id, type=job_type), limit=100, next_token=None).jobs


def test_the_inventory_sync_plugin_creates_its_cron_once_across_restarts(served_stack: Stack, admin: str) -> None:
    served_stack.runtime.tick.ensure_declared()
    restarted = Runtime(settings=served_stack.runtime.settings, clock=served_stack.clock, session=served_stack.session)
    restarted.tick.ensure_declared()  # a second container, or a restart: no duplicate
    [cron] = declared_crons(served_stack, admin)
    assert cron["name"] == "Daily Inventory Sync"
    assert cron["job_type"] == "api_call"
    assert cron["configuration"] == {"url": "/api/inventory-sync/run", "method": "POST"}
    assert cron["schedule_description"] == "At 03:00 every day"
    assert cron["next_run_at"] == "2026-11-29T03:00:00.000000Z"


def test_the_daily_slot_calls_the_plugin_route_which_runs_a_full_sync(served_stack: Stack, admin: str) -> None:
    stack = served_stack
    stack.runtime.tick.ensure_declared()
    [cron] = declared_crons(stack, admin)
    three_am = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    stack.clock.advance((three_am - T).total_seconds())  # type: ignore[union-attr]
    assert stack.runtime.tick.run_tick(three_am).fired == 1
    stack.poller.drain()  # the api_call, then the sync job it scheduled
    stack.poller.drain()
    [listed] = stack.runtime.store.list(JobFilter(cron_job_id=cron["id"]), limit=10, next_token=None).jobs
    [call] = stack.runtime.store.shown([listed])  # its result (the route's answer) may live in S3
    assert call.status == JobStatus.COMPLETED, call.error
    assert call.result["status_code"] == 202
    scheduled_id = call.result["body"]["job"]["id"]
    [sync] = jobs_of_type(stack, "plugin:inventory-sync:full", PLATFORM_STORE)
    assert sync.id == scheduled_id
    assert sync.status == JobStatus.COMPLETED
    assert sync.plugin_id == "inventory-sync"
    shown = stack.get(f"/api/cron-jobs/{cron['id']}", admin).json_body["job"]
    assert shown["last_status"] == "completed" and shown["success_count"] == 1
    assert shown["next_run_at"] == to_iso(three_am + timedelta(days=1))


def test_an_api_call_job_reaches_the_guides_my_plugin_sync_route(served_stack: Stack, admin: str) -> None:
    job = served_stack.schedule(
        admin, type="api_call", payload={"url": "/api/my-plugin/sync", "method": "POST", "body": {"count": 4}}
    )
    served_stack.poller.drain()
    served_stack.poller.drain()
    call = served_stack.job(job["id"])
    assert call.status == JobStatus.COMPLETED, call.error
    [imported] = jobs_of_type(served_stack, "plugin:my-plugin:import", "store-a")
    assert imported.status == JobStatus.COMPLETED
    assert imported.result == {"total": 4, "successful": 4, "failed": 0}


@pytest.mark.parametrize("url", ["https://evil.example/api/x", "//evil.example/api/x", "api/no-slash"])
def test_an_api_call_to_anything_but_a_path_of_this_api_is_a_400(served_stack: Stack, admin: str, url: str) -> None:
    response = served_stack.post(
        "/api/background-jobs/schedule", {"type": "api_call", "storeId": "store-a", "payload": {"url": url}}, admin
    )
    assert response.status_code == 400
    assert response.json_body["details"][0]["field"] == "payload.url"


def test_an_api_call_answered_with_an_error_fails_and_retries(served_stack: Stack, admin: str) -> None:
    job = served_stack.schedule(admin, type="api_call", payload={"url": "/api/no-such-route"}, maxRetries=1)
    served_stack.poller.drain()
    failed = served_stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 2
    assert "answered 403" in (failed.error or "") or "answered 404" in (failed.error or "")
