"""The background-jobs HTTP contract, end to end on moto with the real workers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.clock import from_iso
from tests.conftest import Stack, assert_error, token

SCHEDULE = "/api/background-jobs/schedule"
IMPORT = "plugin:my-plugin:import"
SYNC = "plugin:inventory-sync:full"


def list_all(stack: Stack, tok: str, query: str = "") -> list[dict[str, Any]]:
    """Every job a list query yields, following next_token to the end."""
    jobs: list[dict[str, Any]] = []
    next_token: str | None = None
    for _ in range(100):
        suffix = f"&next_token={next_token}" if next_token else ""
        response = stack.get(f"/api/background-jobs?{query}{suffix}", tok)
        assert response.status_code == 200, response.json_body
        jobs.extend(response.json_body["jobs"])
        next_token = response.json_body["next_token"]
        if not next_token:
            return jobs
    raise AssertionError("pagination never ended")


def status_of(stack: Stack, job_id: str, tok: str) -> dict[str, Any]:
    response = stack.get(f"/api/background-jobs/{job_id}/status", tok)
    assert response.status_code == 200, response.json_body
    return response.json_body["job"]


def sqs_messages(stack: Stack, queue: str) -> list[dict[str, Any]]:
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found: list[dict[str, Any]] = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0)
        for message in answer.get("Messages", []):
            body = json.loads(message["Body"])
            if body not in found:
                found.append(body)
    return found


# --- schedule --------------------------------------------------------------------------


def test_schedule_answers_201_with_the_job_and_created_true(stack: Stack, admin: str) -> None:
    response = stack.post(SCHEDULE, {"type": IMPORT, "storeId": "store-a", "payload": {"count": 2}}, admin)
    assert response.status_code == 201
    body = response.json_body
    assert body["success"] is True
    assert body["created"] is True
    job = body["job"]
    assert job["id"]
    assert job["type"] == IMPORT
    assert job["priority"] == "normal"
    assert job["status"] == "pending"
    assert job["store_id"] == "store-a"
    assert from_iso(job["scheduled_at"]) <= datetime.now(UTC)
    assert stack.job(job["id"]) is not None


def test_schedule_accepts_the_guides_camel_case_fields(stack: Stack, admin: str) -> None:
    body = {
        "type": IMPORT,
        "payload": {"source": "external-api", "importType": "products", "filters": {"category": "electronics"}},
        "priority": "normal",
        "maxRetries": 5,
        "storeId": "store-a",
        "userId": "user-1",
        "metadata": {"pluginId": "my-plugin-uuid", "description": "Importing electronics from API"},
    }
    response = stack.post(SCHEDULE, body, admin)
    assert response.status_code == 201, response.json_body
    job = response.json_body["job"]
    assert job["max_retries"] == 5
    assert job["store_id"] == "store-a"
    assert job["user_id"] == "user-1"
    assert job["plugin_id"] == "my-plugin-uuid"
    assert job["metadata"]["description"] == "Importing electronics from API"
    assert job["payload"]["filters"] == {"category": "electronics"}


def test_schedule_accepts_snake_case_fields(stack: Stack, admin: str) -> None:
    body = {"type": IMPORT, "payload": {}, "max_retries": 0, "store_id": "store-b", "plugin_id": "plug-x"}
    response = stack.post(SCHEDULE, body, admin)
    assert response.status_code == 201, response.json_body
    job = response.json_body["job"]
    assert (job["max_retries"], job["store_id"], job["plugin_id"]) == (0, "store-b", "plug-x")


def test_schedule_without_max_retries_uses_the_default_of_three(stack: Stack, admin: str) -> None:
    assert stack.schedule(admin)["max_retries"] == 3


@pytest.mark.parametrize("priority", ["low", "normal", "high", "urgent"])
def test_each_priority_lands_on_its_own_sqs_queue(stack: Stack, admin: str, priority: str) -> None:
    job = stack.schedule(admin, priority=priority)
    assert job["priority"] == priority
    for other in ("low", "normal", "high", "urgent"):
        messages = sqs_messages(stack, f"tickwork-{other}")
        if other == priority:
            assert [m["job_id"] for m in messages] == [job["id"]]
        else:
            assert messages == []


def test_a_delayed_job_is_scheduled_later_and_does_not_run_yet(stack: Stack, admin: str) -> None:
    before = datetime.now(UTC)
    job = stack.schedule(admin, delay=120)
    scheduled = from_iso(job["scheduled_at"])
    assert before + timedelta(seconds=119) <= scheduled <= datetime.now(UTC) + timedelta(seconds=121)
    stack.poller.drain()
    stored = status_of(stack, job["id"], admin)
    assert stored["status"] == "pending"
    assert stored["attempts"] == 0


def test_a_future_run_at_becomes_the_scheduled_at(stack: Stack, admin: str) -> None:
    run_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    job = stack.schedule(admin, run_at=run_at.isoformat().replace("+00:00", "Z"))
    assert from_iso(job["scheduled_at"]) == run_at


def test_a_run_at_with_another_offset_is_the_same_instant(stack: Stack, admin: str) -> None:
    run_at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    local = run_at.astimezone(timezone(timedelta(hours=5, minutes=30)))
    job = stack.schedule(admin, runAt=local.isoformat())
    assert from_iso(job["scheduled_at"]) == run_at


def test_a_past_run_at_runs_now(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, run_at="2020-01-01T00:00:00Z")
    assert from_iso(job["scheduled_at"]) > datetime(2025, 1, 1, tzinfo=UTC)
    assert stack.poller.drain() == 1
    assert status_of(stack, job["id"], admin)["status"] == "completed"


def test_a_repeated_idempotency_key_returns_the_first_job_with_200(stack: Stack, admin: str) -> None:
    body = {"type": IMPORT, "storeId": "store-a", "payload": {"count": 1}, "idempotency_key": "import-2026-11-28"}
    first = stack.post(SCHEDULE, body, admin)
    second = stack.post(SCHEDULE, dict(body, payload={"count": 99}), admin)
    assert first.status_code == 201
    assert first.json_body["created"] is True
    assert second.status_code == 200
    assert second.json_body["success"] is True
    assert second.json_body["created"] is False
    assert second.json_body["job"]["id"] == first.json_body["job"]["id"]
    assert second.json_body["job"]["payload"] == {"count": 1}
    stored = list_all(stack, admin, "store_id=store-a")
    assert [j["id"] for j in stored] == [first.json_body["job"]["id"]]


def test_an_idempotency_key_is_scoped_to_its_store(stack: Stack, admin: str) -> None:
    a = stack.post(SCHEDULE, {"type": IMPORT, "storeId": "store-a", "idempotencyKey": "k1"}, admin)
    b = stack.post(SCHEDULE, {"type": IMPORT, "storeId": "store-b", "idempotencyKey": "k1"}, admin)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json_body["job"]["id"] != b.json_body["job"]["id"]


def test_a_repeated_idempotency_key_runs_the_job_only_once(stack: Stack, admin: str) -> None:
    first = stack.schedule(admin, idempotency_key="once")
    stack.schedule(admin, idempotency_key="once")
    stack.poller.drain()
    job = status_of(stack, first["id"], admin)
    assert job["status"] == "completed"
    assert job["attempts"] == 1


# --- status and detail -----------------------------------------------------------------


def test_status_shows_progress_result_and_attempts_after_the_job_ran(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, payload={"count": 4})
    before = status_of(stack, job["id"], admin)
    assert (before["status"], before["progress"], before["attempts"]) == ("pending", 0, 0)
    stack.poller.drain()
    after = status_of(stack, job["id"], admin)
    assert after["status"] == "completed"
    assert after["progress"] == 100
    assert after["progress_message"] == "Import completed"
    assert after["result"] == {"total": 4, "successful": 4, "failed": 0}
    assert after["error"] is None
    assert after["attempts"] == 1
    assert after["max_retries"] == 3
    assert after["started_at"] and after["completed_at"]
    assert "logs" not in after
    assert "lease_token" not in after


def test_detail_includes_the_log_lines_the_handler_wrote(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, payload={"source": "supplier-feed", "count": 1})
    stack.poller.drain()
    response = stack.get(f"/api/background-jobs/{job['id']}", admin)
    assert response.status_code == 200
    detail = response.json_body["job"]
    assert detail["status"] == "completed"
    assert detail["payload"]["source"] == "supplier-feed"
    assert any("Starting import from supplier-feed" in line for line in detail["logs"]), detail["logs"]


def test_an_unknown_job_id_answers_404_job_not_found(stack: Stack, admin: str) -> None:
    assert_error(stack.get("/api/background-jobs/no-such-job/status", admin), 404, "job_not_found")
    assert_error(stack.get("/api/background-jobs/no-such-job", admin), 404, "job_not_found")
    assert_error(stack.post("/api/background-jobs/no-such-job/cancel", {}, admin), 404, "job_not_found")
    assert_error(stack.post("/api/background-jobs/no-such-job/retry", {}, admin), 404, "job_not_found")


def test_a_very_long_job_id_answers_404_not_500(stack: Stack, admin: str) -> None:
    assert_error(stack.get(f"/api/background-jobs/{'x' * 2000}/status", admin), 404, "job_not_found")


# --- list ------------------------------------------------------------------------------


@pytest.fixture
def mixed_jobs(stack: Stack, admin: str) -> dict[str, str]:
    """Jobs across two stores, two types and two plugins; two of them already completed."""
    ids = {
        "a_import_p1": stack.schedule(admin, plugin_id="p1")["id"],
        "a_sync_p2": stack.schedule(admin, type=SYNC, payload={"storeId": "store-a"}, plugin_id="p2")["id"],
        "b_import_p1": stack.schedule(admin, storeId="store-b", plugin_id="p1")["id"],
    }
    stack.poller.drain()
    ids["a_import_pending"] = stack.schedule(admin, delay=600)["id"]
    return ids


def test_list_filters_by_store(stack: Stack, admin: str, mixed_jobs: dict[str, str]) -> None:
    ids = {j["id"] for j in list_all(stack, admin, "store_id=store-b")}
    assert ids == {mixed_jobs["b_import_p1"]}


def test_list_filters_by_status(stack: Stack, admin: str, mixed_jobs: dict[str, str]) -> None:
    completed = {j["id"] for j in list_all(stack, admin, "status=completed")}
    assert completed == {mixed_jobs["a_import_p1"], mixed_jobs["a_sync_p2"], mixed_jobs["b_import_p1"]}
    pending = {j["id"] for j in list_all(stack, admin, "status=pending&store_id=store-a")}
    assert pending == {mixed_jobs["a_import_pending"]}


def test_list_filters_by_type(stack: Stack, admin: str, mixed_jobs: dict[str, str]) -> None:
    ids = {j["id"] for j in list_all(stack, admin, f"type={SYNC}")}
    assert ids == {mixed_jobs["a_sync_p2"]}


def test_list_filters_by_plugin(stack: Stack, admin: str, mixed_jobs: dict[str, str]) -> None:
    ids = {j["id"] for j in list_all(stack, admin, "plugin_id=p1")}
    assert ids == {mixed_jobs["a_import_p1"], mixed_jobs["b_import_p1"]}
    in_a = {j["id"] for j in list_all(stack, admin, "plugin_id=p1&store_id=store-a")}
    assert in_a == {mixed_jobs["a_import_p1"]}


def test_list_rejects_an_unknown_status(stack: Stack, admin: str) -> None:
    body = assert_error(stack.get("/api/background-jobs?status=exploded", admin), 400, "validation_error")
    assert body["details"][0]["field"] == "status"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "2.5"])
def test_list_rejects_a_limit_outside_1_to_100(stack: Stack, admin: str, limit: str) -> None:
    body = assert_error(stack.get(f"/api/background-jobs?limit={limit}", admin), 400, "validation_error")
    assert body["details"][0]["field"] == "limit"


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_accepts_the_limits_bounds(stack: Stack, admin: str, limit: str) -> None:
    stack.schedule(admin)
    response = stack.get(f"/api/background-jobs?limit={limit}", admin)
    assert response.status_code == 200
    assert len(response.json_body["jobs"]) == 1


@pytest.mark.parametrize("query", ["store_id=store-a", "", "status=pending", "type=plugin:my-plugin:import"])
def test_pagination_returns_every_job_exactly_once(stack: Stack, admin: str, query: str) -> None:
    scheduled = {stack.schedule(admin)["id"] for _ in range(7)}
    pages: list[list[str]] = []
    next_token: str | None = None
    while True:
        suffix = f"&next_token={next_token}" if next_token else ""
        response = stack.get(f"/api/background-jobs?limit=3&{query}{suffix}", admin)
        assert response.status_code == 200, response.json_body
        page = [j["id"] for j in response.json_body["jobs"]]
        assert len(page) <= 3
        pages.append(page)
        next_token = response.json_body["next_token"]
        if not next_token:
            break
        assert len(pages) < 10
    seen = [job_id for page in pages for job_id in page]
    assert sorted(seen) == sorted(scheduled)
    assert len(pages) >= 3


def test_a_store_list_is_newest_first(stack: Stack, admin: str) -> None:
    ids = [stack.schedule(admin)["id"] for _ in range(3)]
    listed = [j["id"] for j in list_all(stack, admin, "store_id=store-a")]
    assert listed == list(reversed(ids))


@pytest.mark.parametrize("garbage", ["garbage", "%7B%7D%7D", "bm90IGpzb24", "WzFd"])
def test_a_garbage_next_token_answers_400(stack: Stack, admin: str, garbage: str) -> None:
    stack.schedule(admin)
    assert_error(
        stack.get(f"/api/background-jobs?store_id=store-a&next_token={garbage}", admin), 400, "invalid_next_token"
    )


@pytest.mark.parametrize("query", ["store_id=store-a", "", "status=pending"])
def test_a_well_formed_but_forged_next_token_answers_400_not_500(stack: Stack, admin: str, query: str) -> None:
    forged = base64.urlsafe_b64encode(json.dumps({"nope": "x"}).encode()).decode().rstrip("=")
    stack.schedule(admin)
    assert_error(stack.get(f"/api/background-jobs?{query}&next_token={forged}", admin), 400, "invalid_next_token")


def test_a_next_token_from_a_store_query_is_refused_by_a_status_query(stack: Stack, admin: str) -> None:
    for _ in range(3):
        stack.schedule(admin)
    first = stack.get("/api/background-jobs?store_id=store-a&limit=1", admin).json_body
    assert first["next_token"]
    response = stack.get(f"/api/background-jobs?status=pending&limit=1&next_token={first['next_token']}", admin)
    assert_error(response, 400, "invalid_next_token")


# --- cancel ----------------------------------------------------------------------------


def test_a_cancelled_pending_job_is_not_run_by_a_later_drain(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    response = stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin)
    assert response.status_code == 200
    assert response.json_body["success"] is True
    assert response.json_body["job"]["status"] == "cancelled"
    assert response.json_body["job"]["completed_at"]
    stack.poller.drain()
    after = status_of(stack, job["id"], admin)
    assert after["status"] == "cancelled"
    assert after["attempts"] == 0
    assert after["result"] is None


def test_cancel_needs_no_body(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    response = stack.client.http.post(
        f"/api/background-jobs/{job['id']}/cancel", headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 200, response.json_body
    assert response.json_body["job"]["status"] == "cancelled"


def test_cancelling_a_completed_job_answers_409(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    stack.poller.drain()
    assert_error(stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin), 409, "invalid_job_state")
    assert status_of(stack, job["id"], admin)["status"] == "completed"


def test_cancelling_twice_answers_409_already_cancelled(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    assert stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin).status_code == 200
    body = assert_error(stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin), 409, "invalid_job_state")
    assert "cancelled" in body["error"]


# --- retry -----------------------------------------------------------------------------


def test_retrying_a_cancelled_job_queues_it_again_and_it_completes(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, payload={"count": 2})
    stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin)
    stack.poller.drain()
    response = stack.post(f"/api/background-jobs/{job['id']}/retry", {}, admin)
    assert response.status_code == 202, response.json_body
    retried = response.json_body["job"]
    assert retried["status"] == "pending"
    assert retried["attempts"] == 0
    assert retried["completed_at"] is None
    assert retried["error"] is None
    stack.poller.drain()
    done = status_of(stack, job["id"], admin)
    assert done["status"] == "completed"
    assert done["attempts"] == 1
    assert done["result"] == {"total": 2, "successful": 2, "failed": 0}


def test_retrying_a_pending_job_answers_409(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    assert_error(stack.post(f"/api/background-jobs/{job['id']}/retry", {}, admin), 409, "invalid_job_state")


def test_retrying_a_completed_job_answers_409_and_does_not_run_it_again(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin)
    stack.poller.drain()
    assert_error(stack.post(f"/api/background-jobs/{job['id']}/retry", {}, admin), 409, "invalid_job_state")
    assert stack.poller.drain() == 0
    assert status_of(stack, job["id"], admin)["attempts"] == 1


# --- stats -----------------------------------------------------------------------------


def test_stats_count_jobs_by_status_after_some_ran(stack: Stack, admin: str) -> None:
    stack.schedule(admin)
    stack.schedule(admin, storeId="store-b")
    stack.poller.drain()
    cancelled = stack.schedule(admin)
    stack.post(f"/api/background-jobs/{cancelled['id']}/cancel", {}, admin)
    stack.schedule(admin, delay=600)
    response = stack.get("/api/background-jobs/stats", admin)
    assert response.status_code == 200, response.json_body
    stats = response.json_body["stats"]
    assert stats["counts"]["completed"] == 2
    assert stats["counts"]["cancelled"] == 1
    assert stats["counts"]["pending"] == 1
    assert stats["counts"]["failed"] == 0
    assert stats["total"] == 4


def test_admin_stats_show_the_depth_of_every_queue(stack: Stack, admin: str) -> None:
    stack.schedule(admin, priority="high")
    stack.schedule(admin, priority="low", delay=600)
    queues = stack.get("/api/background-jobs/stats", admin).json_body["stats"]["queues"]
    assert set(queues) == {"urgent", "high", "normal", "low"}
    assert queues["high"]["visible"] == 1
    assert queues["low"]["delayed"] == 1
    assert queues["urgent"]["visible"] == queues["normal"]["visible"] == 0


def test_a_store_owners_stats_count_only_its_stores(stack: Stack, admin: str, owner_a: str) -> None:
    stack.schedule(admin)
    stack.schedule(admin, storeId="store-b")
    stack.schedule(admin, storeId="store-b")
    stack.poller.drain()
    stack.schedule(admin, storeId="store-b")
    stats = stack.get("/api/background-jobs/stats", owner_a).json_body["stats"]
    assert stats["counts"]["completed"] == 1
    assert stats["counts"]["pending"] == 0
    assert stats["total"] == 1
    assert "queues" not in stats
    # Naming another store does not widen what it sees.
    other = stack.get("/api/background-jobs/stats?store_id=store-b", owner_a).json_body["stats"]
    assert other["total"] == 1


def test_admin_stats_can_be_narrowed_to_one_store(stack: Stack, admin: str) -> None:
    stack.schedule(admin)
    stack.schedule(admin, storeId="store-b")
    stats = stack.get("/api/background-jobs/stats?store_id=store-b", admin).json_body["stats"]
    assert stats["counts"]["pending"] == 1
    assert stats["total"] == 1


def test_a_plugins_stats_count_only_its_own_jobs(stack: Stack, admin: str) -> None:
    stack.schedule(admin, plugin_id="p1")
    stack.schedule(admin, plugin_id="p2")
    stack.schedule(admin, plugin_id="p1", storeId="store-b")
    plugin = token("plugin", stores=["store-a"], plugin_id="p1", sub="p1")
    stats = stack.get("/api/background-jobs/stats", plugin).json_body["stats"]
    assert stats["counts"]["pending"] == 1
    assert stats["total"] == 1


# --- job types -------------------------------------------------------------------------


def test_job_types_list_the_plugin_types_with_their_configuration_schema(stack: Stack, owner_a: str) -> None:
    response = stack.get("/api/job-types", owner_a)
    assert response.status_code == 200
    types = {t["type"]: t for t in response.json_body["job_types"]}
    assert IMPORT in types and SYNC in types
    assert types[IMPORT]["plugin"] == "my-plugin"
    assert types[SYNC]["plugin"] == "inventory-sync"
    for name in (IMPORT, SYNC):
        schema = types[name]["configuration_schema"]
        assert schema["type"] == "object"
        assert schema["properties"]
    assert "storeId" in types[SYNC]["configuration_schema"]["properties"]
    assert "source" in types[IMPORT]["configuration_schema"]["properties"]
