"""The cron-jobs API: the guide's fields, validation, changes, run now, history, preview, scoping."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.config import Settings
from tests.conftest import T0, Stack, assert_error, built_stack, token
from tests.kit import guide_body

T = T0  # the shared stacks' clock start


def test_creating_the_guides_daily_sync_answers_201_with_its_schedule(clocked_stack: Stack, admin: str) -> None:
    response = clocked_stack.post("/api/cron-jobs", guide_body(), admin)
    assert response.status_code == 201
    job = response.json_body["job"]
    assert job["id"]
    assert job["next_run_at"] == "2026-11-29T02:00:00.000000Z"
    assert job["schedule_description"] == "At 02:00 every day"
    for field in ("last_run_at", "last_status", "last_error"):
        assert job[field] is None
    for field in ("run_count", "success_count", "failure_count", "consecutive_failures"):
        assert job[field] == 0


def test_next_run_at_follows_the_cron_jobs_timezone(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(timezone="America/New_York"), admin).json_body["job"]
    assert job["next_run_at"] == "2026-11-29T07:00:00.000000Z"  # 02:00 EST


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cron_expression": "61 * * * *"}, "cron_expression"),
        ({"cron_expression": "0 0 31 2 *"}, "cron_expression"),
        ({"cron_expression": "every day"}, "cron_expression"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"job_type": "plugin:nobody:home"}, "job_type"),
        ({"priority": "asap"}, "priority"),
        ({"misfire_policy": "sometimes"}, "misfire_policy"),
        ({"max_failures": 0}, "max_failures"),
        ({"name": ""}, "name"),
        ({"nmae": "typo"}, "nmae"),
    ],
)
def test_an_invalid_cron_job_is_a_400_naming_the_field(
    clocked_stack: Stack, admin: str, changes: dict[str, Any], field: str
) -> None:
    response = clocked_stack.post("/api/cron-jobs", guide_body(**changes), admin)
    assert response.status_code == 400, response.json_body
    body = response.json_body
    assert body["success"] is False and body["error"]
    assert any(field in detail["field"] for detail in body["details"]), body


def test_missing_required_fields_are_listed(clocked_stack: Stack, admin: str) -> None:
    body = assert_error(clocked_stack.post("/api/cron-jobs", {"store_id": "store-a"}, admin), 400, "validation_error")
    assert {d["field"] for d in body["details"]} == {"name", "cron_expression", "job_type"}


def test_patch_changes_only_what_it_names_and_reschedules(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(), admin).json_body["job"]
    patched = clocked_stack.client.http.patch(
        f"/api/cron-jobs/{job['id']}", headers=_auth(admin), body='{"cron_expression": "*/15 * * * *"}'
    ).json_body["job"]
    assert patched["name"] == "Daily Product Sync"
    assert patched["next_run_at"] == "2026-11-28T12:15:00.000000Z"
    assert patched["updated_at"] >= job["updated_at"]


def test_put_replaces_the_definition_and_resets_what_it_omits(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(priority="high", tags=["a"]), admin).json_body["job"]
    body = '{"name": "n", "cron_expression": "0 * * * *", "job_type": "plugin:test-kit:flaky"}'
    replaced = clocked_stack.client.http.put(f"/api/cron-jobs/{job['id']}", headers=_auth(admin), body=body).json_body
    assert replaced["job"]["priority"] == "normal" and replaced["job"]["tags"] == []
    assert replaced["job"]["store_id"] == "store-a"


def test_pause_resume_and_toggle_flip_is_active(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(), admin).json_body["job"]
    paused = clocked_stack.post(f"/api/cron-jobs/{job['id']}/pause", {}, admin).json_body["job"]
    assert paused["is_active"] is False and "paused by" in paused["paused_reason"]
    toggled = clocked_stack.post(f"/api/cron-jobs/{job['id']}/toggle", {}, admin).json_body["job"]
    assert toggled["is_active"] is True and toggled["paused_reason"] is None
    again = clocked_stack.post(f"/api/cron-jobs/{job['id']}/resume", {}, admin).json_body["job"]
    assert again["is_active"] is True


def test_run_now_answers_202_and_history_lists_it_newest_first(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(), admin).json_body["job"]
    first = clocked_stack.post(f"/api/cron-jobs/{job['id']}/run", {}, admin)
    assert first.status_code == 202
    assert first.json_body["execution"]["cron_job_id"] == job["id"]
    clocked_stack.clock.advance(1)  # type: ignore[union-attr]
    second = clocked_stack.post(f"/api/cron-jobs/{job['id']}/run", {}, admin).json_body["execution"]
    clocked_stack.poller.drain()
    history = clocked_stack.get(f"/api/cron-jobs/{job['id']}/executions", admin).json_body
    assert [e["id"] for e in history["executions"]] == [second["id"], first.json_body["execution"]["id"]]
    assert all(e["status"] == "completed" for e in history["executions"])
    page = clocked_stack.get(f"/api/cron-jobs/{job['id']}/executions?limit=1", admin).json_body
    assert len(page["executions"]) == 1 and page["next_token"]


def test_delete_removes_the_cron_job(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(), admin).json_body["job"]
    assert clocked_stack.client.http.delete(f"/api/cron-jobs/{job['id']}", headers=_auth(admin)).status_code == 200
    assert_error(clocked_stack.get(f"/api/cron-jobs/{job['id']}", admin), 404, "cron_job_not_found")


def test_listing_filters_by_plugin_and_activity_and_pages(clocked_stack: Stack, admin: str) -> None:
    for n in range(5):
        clocked_stack.post("/api/cron-jobs", guide_body(name=f"j{n}", plugin_id="p1" if n % 2 else "p2"), admin)
    by_plugin = clocked_stack.get("/api/cron-jobs?store_id=store-a&plugin_id=p1", admin).json_body["jobs"]
    assert sorted(j["name"] for j in by_plugin) == ["j1", "j3"]
    seen, next_token = [], None
    while True:
        query = "/api/cron-jobs?store_id=store-a&limit=2" + (f"&next_token={next_token}" if next_token else "")
        page = clocked_stack.get(query, admin).json_body
        seen += [j["name"] for j in page["jobs"]]
        next_token = page["next_token"]
        if not next_token:
            break
    assert sorted(seen) == [f"j{n}" for n in range(5)]


def test_another_stores_cron_job_is_a_404_and_a_foreign_store_a_403(clocked_stack: Stack, admin: str) -> None:
    job = clocked_stack.post("/api/cron-jobs", guide_body(), admin).json_body["job"]
    owner_b = token("store_owner", stores=["store-b"])
    assert_error(clocked_stack.get(f"/api/cron-jobs/{job['id']}", owner_b), 404, "cron_job_not_found")
    assert_error(clocked_stack.post(f"/api/cron-jobs/{job['id']}/run", {}, owner_b), 404, "cron_job_not_found")
    assert_error(clocked_stack.post("/api/cron-jobs", guide_body(), owner_b), 403, "store_forbidden")
    assert clocked_stack.get("/api/cron-jobs", owner_b).json_body["jobs"] == []


def test_a_plugin_sees_only_its_own_cron_jobs(clocked_stack: Stack, admin: str) -> None:
    plugin_p = token("plugin", stores=["store-a"], plugin_id="p")
    plugin_q = token("plugin", stores=["store-a"], plugin_id="q")
    mine = clocked_stack.post("/api/cron-jobs", guide_body(plugin_id=None), plugin_p).json_body["job"]
    assert mine["plugin_id"] == "p"
    assert_error(clocked_stack.get(f"/api/cron-jobs/{mine['id']}", plugin_q), 404, "cron_job_not_found")
    assert clocked_stack.get("/api/cron-jobs", plugin_q).json_body["jobs"] == []
    assert_error(clocked_stack.post("/api/cron-jobs", guide_body(plugin_id="q"), plugin_p), 403, "plugin_forbidden")


def test_preview_shows_the_description_and_next_fire_times(clocked_stack: Stack, admin: str) -> None:
    response = clocked_stack.post(
        "/api/cron-jobs/preview",
        {"cron_expression": "0 2 * * *", "timezone": "Europe/Berlin", "after": "2026-11-28T00:00:00Z", "count": 3},
        admin,
    )
    assert response.status_code == 200
    body = response.json_body
    assert body["valid"] is True and "02:00" in body["description"]
    assert body["next_runs"] == ["2026-11-28T01:00:00Z", "2026-11-29T01:00:00Z", "2026-11-30T01:00:00Z"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron_expression": "0 0 31 2 *"}, "cron_expression"),
        ({"cron_expression": "* * *"}, "cron_expression"),
        ({"cron_expression": "0 2 * * *", "timezone": "Nowhere/Land"}, "timezone"),
        ({"cron_expression": "0 2 * * *", "count": 101}, "count"),
    ],
)
def test_preview_of_an_invalid_schedule_is_a_400_with_the_reason(
    clocked_stack: Stack, admin: str, body: dict[str, Any], field: str
) -> None:
    response = clocked_stack.post("/api/cron-jobs/preview", body, admin)
    assert response.status_code == 400
    assert any(field in d["field"] for d in response.json_body["details"])


def test_a_store_may_hold_at_most_its_quota_of_cron_jobs(settings: Settings, admin: str) -> None:
    import dataclasses

    with built_stack(dataclasses.replace(settings, max_cron_jobs_per_store=2), ManualClock(T)) as stack:
        for n in range(2):
            assert stack.post("/api/cron-jobs", guide_body(name=f"j{n}"), admin).status_code == 201
        assert_error(stack.post("/api/cron-jobs", guide_body(name="j3"), admin), 429, "limit_reached")


def _auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
