"""Tokens and tenant scoping (docs/threat-model.md): 401 for bad tokens, 404 (never 403) across tenants."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from chalicelib.auth import Role, mint_token
from tests.conftest import SECRET, Stack, assert_error, token

SCHEDULE = "/api/background-jobs/schedule"
PROTECTED = [
    ("GET", "/api/background-jobs"),
    ("GET", "/api/background-jobs/stats"),
    ("GET", "/api/background-jobs/some-id"),
    ("GET", "/api/background-jobs/some-id/status"),
    ("POST", "/api/background-jobs/some-id/cancel"),
    ("POST", "/api/background-jobs/some-id/retry"),
    ("POST", SCHEDULE),
    ("GET", "/api/job-types"),
]


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def request(stack: Stack, method: str, path: str, headers: dict[str, str]) -> Any:
    body = json.dumps({"type": "plugin:my-plugin:import", "storeId": "store-a"}) if method == "POST" else None
    return stack.client.http.request(method, path, headers=headers, body=body or b"")


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.json_body
    return {job["id"] for job in response.json_body["jobs"]}


# --- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_request_without_a_token_answers_401_missing_token(stack: Stack, method: str, path: str) -> None:
    assert_error(request(stack, method, path, {"Content-Type": "application/json"}), 401, "missing_token")


@pytest.mark.parametrize(
    "header", ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "token"]
)
def test_a_garbage_authorization_header_answers_401(stack: Stack, header: str) -> None:
    response = stack.client.http.get("/api/background-jobs", headers={"Authorization": header})
    assert_error(response, 401, "invalid_token")


def test_an_expired_token_answers_401_token_expired(stack: Stack) -> None:
    expired = mint_token(SECRET, role=Role.ADMIN, subject="late", ttl_s=-10)
    assert_error(stack.get("/api/background-jobs", expired), 401, "token_expired")


def test_a_token_signed_with_another_secret_answers_401(stack: Stack) -> None:
    forged = mint_token("another-secret-" + "x" * 40, role=Role.ADMIN, subject="mallory")
    assert_error(stack.get("/api/background-jobs", forged), 401, "invalid_token")


def test_an_alg_none_token_answers_401(stack: Stack) -> None:
    claims = {"sub": "mallory", "role": "admin", "iat": int(time.time()), "exp": int(time.time()) + 3600}
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
    assert_error(stack.get("/api/background-jobs", unsigned), 401, "invalid_token")
    assert_error(
        stack.post(SCHEDULE, {"type": "plugin:my-plugin:import", "storeId": "s"}, unsigned), 401, "invalid_token"
    )


def test_a_token_with_a_tampered_payload_answers_401(stack: Stack) -> None:
    header, _, signature = token("store_owner", stores=["store-a"]).split(".")
    claims = {"sub": "owner-a", "role": "admin", "iat": int(time.time()), "exp": int(time.time()) + 3600}
    assert_error(stack.get("/api/background-jobs", f"{header}.{b64url(claims)}.{signature}"), 401, "invalid_token")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "role": "superuser"},
        {"sub": "x"},
        {"role": "admin"},
        {"sub": "x", "role": "plugin", "stores": ["store-a"]},
        {"sub": "x", "role": "store_owner", "stores": "store-a"},
    ],
)
def test_a_token_with_bad_claims_answers_401(stack: Stack, claims: dict[str, Any]) -> None:
    signed = jwt.encode(dict(claims, exp=int(time.time()) + 3600), SECRET, algorithm="HS256")
    assert_error(stack.get("/api/background-jobs", signed), 401, "invalid_token")


def test_a_token_without_an_expiry_answers_401(stack: Stack) -> None:
    signed = jwt.encode({"sub": "x", "role": "admin"}, SECRET, algorithm="HS256")
    assert_error(stack.get("/api/background-jobs", signed), 401, "invalid_token")


def test_health_needs_no_token(stack: Stack) -> None:
    response = stack.client.http.get("/api/health")
    assert response.status_code == 200
    # No tick has run in this stack: alive, the scheduler's heartbeat not seen.
    assert response.json_body == {"success": True, "status": "degraded", "tick": {"last_at": None, "lag_s": None}}


def test_a_bad_token_is_refused_before_the_body_is_read(stack: Stack) -> None:
    response = stack.client.http.post(SCHEDULE, headers={"Content-Type": "application/json"}, body="{not json")
    assert_error(response, 401, "missing_token")


# --- store owners ----------------------------------------------------------------------


@pytest.fixture
def job_in_b(stack: Stack, admin: str) -> str:
    return str(stack.schedule(admin, storeId="store-b")["id"])


@pytest.mark.parametrize("suffix", ["/status", ""])
def test_a_store_owner_cannot_read_another_stores_job(stack: Stack, owner_a: str, job_in_b: str, suffix: str) -> None:
    assert_error(stack.get(f"/api/background-jobs/{job_in_b}{suffix}", owner_a), 404, "job_not_found")


def test_another_stores_job_answers_exactly_like_a_missing_one(stack: Stack, owner_a: str, job_in_b: str) -> None:
    hidden = stack.get(f"/api/background-jobs/{job_in_b}/status", owner_a).json_body
    missing = stack.get(f"/api/background-jobs/{job_in_b[::-1]}/status", owner_a).json_body
    assert hidden["error"].replace(job_in_b, "ID") == missing["error"].replace(job_in_b[::-1], "ID")
    assert hidden["code"] == missing["code"] == "job_not_found"


def test_a_store_owner_cannot_cancel_another_stores_job(stack: Stack, admin: str, owner_a: str, job_in_b: str) -> None:
    assert_error(stack.post(f"/api/background-jobs/{job_in_b}/cancel", {}, owner_a), 404, "job_not_found")
    assert stack.job(job_in_b).status.value == "pending"


def test_a_store_owner_cannot_retry_another_stores_job(stack: Stack, admin: str, owner_a: str, job_in_b: str) -> None:
    stack.post(f"/api/background-jobs/{job_in_b}/cancel", {}, admin)
    assert_error(stack.post(f"/api/background-jobs/{job_in_b}/retry", {}, owner_a), 404, "job_not_found")
    assert stack.job(job_in_b).status.value == "cancelled"


def test_a_store_owner_does_not_list_another_stores_jobs(stack: Stack, admin: str, owner_a: str, job_in_b: str) -> None:
    mine = stack.schedule(owner_a)["id"]
    assert ids(stack.get("/api/background-jobs", owner_a)) == {mine}
    assert_error(stack.get("/api/background-jobs?store_id=store-b", owner_a), 403, "store_forbidden")
    assert ids(stack.get("/api/background-jobs?status=pending", owner_a)) == {mine}


def test_a_store_owner_sees_and_changes_its_own_jobs(stack: Stack, owner_a: str) -> None:
    job = stack.schedule(owner_a)
    assert job["created_by"] == "store_owner:owner-a"
    assert stack.get(f"/api/background-jobs/{job['id']}/status", owner_a).status_code == 200
    assert stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, owner_a).json_body["job"]["status"] == "cancelled"
    assert stack.post(f"/api/background-jobs/{job['id']}/retry", {}, owner_a).status_code == 202


def test_scheduling_into_a_store_not_in_the_token_is_403(stack: Stack, admin: str, owner_a: str) -> None:
    response = stack.post(SCHEDULE, {"type": "plugin:my-plugin:import", "storeId": "store-b"}, owner_a)
    assert_error(response, 403, "store_forbidden")
    assert ids(stack.get("/api/background-jobs", admin)) == set()


def test_an_owner_of_several_stores_must_name_one_to_list(stack: Stack) -> None:
    owner = token("store_owner", stores=["store-a", "store-b"], sub="multi")
    body = assert_error(stack.get("/api/background-jobs", owner), 400, "store_id_required")
    assert body["details"][0]["field"] == "store_id"
    assert stack.get("/api/background-jobs?store_id=store-b", owner).status_code == 200


def test_a_token_with_no_stores_can_schedule_nowhere(stack: Stack) -> None:
    lonely = token("store_owner", stores=[], sub="nobody")
    assert_error(
        stack.post(SCHEDULE, {"type": "plugin:my-plugin:import", "storeId": "store-a"}, lonely), 403, "store_forbidden"
    )


# --- plugins ---------------------------------------------------------------------------


@pytest.fixture
def plugin_p() -> str:
    return token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p")


@pytest.fixture
def plugin_q() -> str:
    return token("plugin", stores=["store-a"], plugin_id="plugin-q", sub="plugin-q")


def test_a_plugin_tokens_jobs_carry_its_plugin_id_without_saying_so(stack: Stack, plugin_p: str) -> None:
    job = stack.schedule(plugin_p)
    assert job["plugin_id"] == "plugin-p"
    assert stack.job(job["id"]).plugin_id == "plugin-p"


@pytest.mark.parametrize("naming", [{"plugin_id": "plugin-p"}, {"metadata": {"pluginId": "plugin-p"}}])
def test_a_plugin_may_name_itself(stack: Stack, plugin_p: str, naming: dict[str, Any]) -> None:
    assert stack.schedule(plugin_p, **naming)["plugin_id"] == "plugin-p"


@pytest.mark.parametrize(
    "naming", [{"plugin_id": "plugin-q"}, {"pluginId": "plugin-q"}, {"metadata": {"pluginId": "plugin-q"}}]
)
def test_a_plugin_naming_another_plugin_answers_403(
    stack: Stack, admin: str, plugin_p: str, naming: dict[str, Any]
) -> None:
    body = {"type": "plugin:my-plugin:import", "storeId": "store-a", **naming}
    assert_error(stack.post(SCHEDULE, body, plugin_p), 403, "plugin_forbidden")
    assert ids(stack.get("/api/background-jobs", admin)) == set()


def test_a_plugin_cannot_schedule_outside_its_stores(stack: Stack, plugin_p: str) -> None:
    body = {"type": "plugin:my-plugin:import", "storeId": "store-b"}
    assert_error(stack.post(SCHEDULE, body, plugin_p), 403, "store_forbidden")


@pytest.mark.parametrize("suffix", ["/status", ""])
def test_another_plugin_in_the_same_store_cannot_read_the_job(
    stack: Stack, plugin_p: str, plugin_q: str, suffix: str
) -> None:
    job_id = stack.schedule(plugin_p)["id"]
    assert_error(stack.get(f"/api/background-jobs/{job_id}{suffix}", plugin_q), 404, "job_not_found")
    assert stack.get(f"/api/background-jobs/{job_id}{suffix}", plugin_p).status_code == 200


def test_another_plugin_cannot_cancel_or_retry_the_job(stack: Stack, plugin_p: str, plugin_q: str) -> None:
    job_id = stack.schedule(plugin_p)["id"]
    assert_error(stack.post(f"/api/background-jobs/{job_id}/cancel", {}, plugin_q), 404, "job_not_found")
    assert stack.job(job_id).status.value == "pending"
    stack.post(f"/api/background-jobs/{job_id}/cancel", {}, plugin_p)
    assert_error(stack.post(f"/api/background-jobs/{job_id}/retry", {}, plugin_q), 404, "job_not_found")
    assert stack.job(job_id).status.value == "cancelled"


def test_another_plugin_does_not_list_the_job(stack: Stack, admin: str, plugin_p: str, plugin_q: str) -> None:
    p_job = stack.schedule(plugin_p)["id"]
    q_job = stack.schedule(plugin_q)["id"]
    owner_job = stack.schedule(admin)["id"]
    assert ids(stack.get("/api/background-jobs", plugin_q)) == {q_job}
    assert ids(stack.get("/api/background-jobs?plugin_id=plugin-p", plugin_q)) == set()
    assert ids(stack.get("/api/background-jobs?store_id=store-a", plugin_p)) == {p_job}
    assert ids(stack.get("/api/background-jobs", admin)) == {p_job, q_job, owner_job}


def test_a_store_owner_sees_every_plugins_jobs_in_its_store(
    stack: Stack, owner_a: str, plugin_p: str, plugin_q: str
) -> None:
    p_job = stack.schedule(plugin_p)["id"]
    q_job = stack.schedule(plugin_q)["id"]
    assert ids(stack.get("/api/background-jobs", owner_a)) == {p_job, q_job}
    assert stack.get(f"/api/background-jobs/{p_job}/status", owner_a).status_code == 200


def test_an_idempotency_key_used_by_another_tenant_does_not_leak_its_job(
    stack: Stack, plugin_p: str, plugin_q: str
) -> None:
    stack.schedule(plugin_p, idempotency_key="shared-key")
    response = stack.post(
        SCHEDULE, {"type": "plugin:my-plugin:import", "storeId": "store-a", "idempotency_key": "shared-key"}, plugin_q
    )
    body = assert_error(response, 409, "idempotency_key_in_use")
    assert "job" not in body
