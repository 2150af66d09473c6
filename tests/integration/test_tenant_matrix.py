"""Every role by every operation on background jobs and cron jobs, against one table of expected answers.

The world of each row: store A holds a background job and a cron job created by plugin P. Each
role then runs the same operations in the same order, and the answers (status, and for lists
whether P's thing is visible) must equal the row. One test per role, so a failure shows the whole
row that went wrong.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.auth import Role, mint_token
from tests.conftest import SECRET, Stack, token

IMPORT = "plugin:my-plugin:import"


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


TOKENS = {
    "admin": lambda: token("admin"),
    "owner_a": lambda: token("store_owner", stores=["store-a"], sub="owner-a"),
    "owner_b": lambda: token("store_owner", stores=["store-b"], sub="owner-b"),
    "plugin_p": lambda: token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p"),
    "plugin_q": lambda: token("plugin", stores=["store-a"], plugin_id="plugin-q", sub="plugin-q"),
    "no_token": lambda: None,
    "expired": lambda: mint_token(SECRET, role=Role.ADMIN, subject="late", ttl_s=-60),
    "other_secret": lambda: mint_token("another-secret-0123456789abcdef0123456789", role=Role.ADMIN, subject="x"),
    "alg_none": lambda: b64url({"alg": "none", "typ": "JWT"}) + "." + b64url({"sub": "x", "role": "admin"}) + ".",
}

OPERATIONS = [
    "job.create",
    "job.create_admin_type",
    "job.read",
    "job.status",
    "job.list",
    "job.cancel",
    "job.retry",
    "batch.create",
    "batch.list",
    "batch.get",
    "batch.jobs",
    "batch.cancel",
    "cron.create",
    "cron.read",
    "cron.list",
    "cron.patch",
    "cron.reassign_plugin",
    "cron.pause",
    "cron.resume",
    "cron.run",
    "cron.executions",
    "cron.delete",
    "store.list",
    "store.load",
    "store.pause",
    "store.resume",  # after the pause: an admin leaves store A running
    "store.plugin_pause",
    "store.plugin_resume",
    "store.erase",  # last: an admin's erase of store A is only queued here, never run
]

ADMIN_ONLY_STORE_OPERATIONS = (
    "store.pause",
    "store.resume",
    "store.plugin_pause",
    "store.plugin_resume",
    "store.erase",
)
SEES = {
    "job.create": 201,
    "job.create_admin_type": 403,
    "job.read": 200,
    "job.status": 200,
    "job.list": (200, "visible"),
    "job.cancel": 200,
    "job.retry": 202,
    "batch.create": 201,
    "batch.list": (200, "visible"),
    "batch.get": 200,
    "batch.jobs": (200, "visible"),
    "batch.cancel": 200,
    "cron.create": 201,
    "cron.read": 200,
    "cron.list": (200, "visible"),
    "cron.patch": 200,
    "cron.reassign_plugin": 403,  # only an admin moves a cron job to another plugin
    "cron.pause": 200,
    "cron.resume": 200,
    "cron.run": 202,
    "cron.executions": 200,
    "cron.delete": 200,
    "store.list": 403,  # the stores' load is the platform's to see
    "store.load": 403,
    "store.erase": 403,  # admin only, even for the store's own owner
    **dict.fromkeys(ADMIN_ONLY_STORE_OPERATIONS, 403),  # admin only, even for the store's own owner
}
FOREIGN_STORE = {
    **{op: 404 for op in OPERATIONS},
    "job.create": 403,
    "job.create_admin_type": 403,
    "batch.create": 403,
    "cron.create": 403,
    # Naming a store the token may not act on is refused, as scheduling there is: 403 says
    # nothing about what the store holds, and a job acting with these rights fails loudly.
    "job.list": 403,
    "batch.list": 403,
    "cron.list": 403,
    "store.list": 403,
    "store.load": 403,
    "store.erase": 403,
    **dict.fromkeys(ADMIN_ONLY_STORE_OPERATIONS, 403),
}
OTHER_PLUGIN = {
    **{op: 404 for op in OPERATIONS},
    "job.create": 201,  # its own job, in a store it may act on
    "job.create_admin_type": 403,
    "batch.create": 201,
    "cron.create": 201,
    "job.list": (200, "hidden"),
    "batch.list": (200, "hidden"),
    "cron.list": (200, "hidden"),
    "store.list": 403,
    "store.load": 403,
    "store.erase": 403,
    **dict.fromkeys(ADMIN_ONLY_STORE_OPERATIONS, 403),
}
EXPECTED: dict[str, dict[str, Any]] = {
    "admin": {
        **SEES,
        "job.create_admin_type": 201,
        "cron.reassign_plugin": 200,
        "store.list": 200,
        "store.load": 200,
        **dict.fromkeys(ADMIN_ONLY_STORE_OPERATIONS, 200),
        "store.erase": 202,
    },
    "owner_a": SEES,
    "plugin_p": SEES,
    "owner_b": FOREIGN_STORE,
    "plugin_q": OTHER_PLUGIN,
    "no_token": {op: (401, "missing_token") for op in OPERATIONS},
    "expired": {op: (401, "token_expired") for op in OPERATIONS},
    "other_secret": {op: (401, "invalid_token") for op in OPERATIONS},
    "alg_none": {op: (401, "invalid_token") for op in OPERATIONS},
}


def call(stack: Stack, tok: str | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    raw = json.dumps(body).encode() if body is not None else b""
    return stack.client.http.request(method, path, headers=headers, body=raw)


def answer(response: Any, listed_id: str | None = None, key: str = "jobs") -> Any:
    body = response.json_body
    if response.status_code == 401:
        return (401, body["code"])
    if listed_id is not None and response.status_code == 200:
        return (200, "visible" if listed_id in {item["id"] for item in body[key]} else "hidden")
    return response.status_code


def cron_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Daily Product Sync",
        "cron_expression": "0 2 * * *",
        "job_type": IMPORT,
        "configuration": {"count": 1},
        "store_id": "store-a",
        **fields,
    }


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_gets_the_expected_answer_for_every_operation(stack: Stack, role: str) -> None:
    plugin_p = TOKENS["plugin_p"]()
    job_id = stack.schedule(plugin_p)["id"]
    batch_body = {"store_id": "store-a", "jobs": [{"type": IMPORT}, {"type": IMPORT}]}
    batch_id = stack.post("/api/background-jobs/batches", batch_body, plugin_p).json_body["batch"]["id"]
    child_id = stack.get(f"/api/background-jobs/batches/{batch_id}/jobs", plugin_p).json_body["jobs"][0]["id"]
    cron_id = stack.post("/api/cron-jobs", cron_body(), plugin_p).json_body["job"]["id"]
    tok = TOKENS[role]()
    job_path, cron_path = f"/api/background-jobs/{job_id}", f"/api/cron-jobs/{cron_id}"
    requests = {
        "job.create": ("POST", "/api/background-jobs/schedule", {"type": IMPORT, "storeId": "store-a"}),
        "job.create_admin_type": (
            "POST",
            "/api/background-jobs/schedule",
            {"type": "database_query", "storeId": "store-a", "payload": {"query": "SELECT 1"}},
        ),
        "job.read": ("GET", job_path, None),
        "job.status": ("GET", f"{job_path}/status", None),
        "job.list": ("GET", "/api/background-jobs?store_id=store-a", None),
        "job.cancel": ("POST", f"{job_path}/cancel", {}),
        "job.retry": ("POST", f"{job_path}/retry", {}),
        "batch.create": ("POST", "/api/background-jobs/batches", batch_body),
        "batch.list": ("GET", "/api/background-jobs/batches?store_id=store-a", None),
        "batch.get": ("GET", f"/api/background-jobs/batches/{batch_id}", None),
        "batch.jobs": ("GET", f"/api/background-jobs/batches/{batch_id}/jobs", None),
        "batch.cancel": ("POST", f"/api/background-jobs/batches/{batch_id}/cancel", {}),
        "cron.create": ("POST", "/api/cron-jobs", cron_body(name="another")),
        "cron.read": ("GET", cron_path, None),
        "cron.list": ("GET", "/api/cron-jobs?store_id=store-a", None),
        "cron.patch": ("PATCH", cron_path, {"description": "changed"}),
        "cron.reassign_plugin": ("PATCH", cron_path, {"plugin_id": "plugin-x"}),
        "cron.pause": ("POST", f"{cron_path}/pause", {}),
        "cron.resume": ("POST", f"{cron_path}/resume", {}),
        "cron.run": ("POST", f"{cron_path}/run", {}),
        "cron.executions": ("GET", f"{cron_path}/executions", None),
        "cron.delete": ("DELETE", cron_path, None),
        "store.list": ("GET", "/api/admin/stores", None),
        "store.load": ("GET", "/api/admin/stores/store-a/load", None),
        "store.pause": ("POST", "/api/admin/stores/store-a/pause", {}),
        "store.resume": ("POST", "/api/admin/stores/store-a/resume", {}),
        "store.plugin_pause": ("POST", "/api/admin/stores/store-a/plugins/plugin-p/pause", {}),
        "store.plugin_resume": ("POST", "/api/admin/stores/store-a/plugins/plugin-p/resume", {}),
        "store.erase": ("DELETE", "/api/admin/stores/store-a/data", None),
    }
    got = {}
    for operation in OPERATIONS:
        method, path, body = requests[operation]
        listed = {"job.list": job_id, "cron.list": cron_id, "batch.jobs": child_id, "batch.list": batch_id}.get(
            operation
        )
        key = "batches" if operation == "batch.list" else "jobs"
        got[operation] = answer(call(stack, tok, method, path, body), listed, key)
    assert got == EXPECTED[role]
    # Whatever the role did, nobody but those who may see them changed P's things.
    if role in ("owner_b", "plugin_q") or role in ("no_token", "expired", "other_secret", "alg_none"):
        assert stack.job(job_id).status.value == "pending"
        assert stack.runtime.cron_store.get(cron_id) is not None
        assert stack.runtime.batches.store.get(batch_id).state.value == "open"
    if role != "admin":  # and only an admin paused or resumed anything
        assert stack.runtime.store_slots.state("store-a").get("limits_version") is None


# --- built-in types: who may create each, as a job and as a cron job -----------------------------
# What each type then reaches, and with whose rights, is tested where the type's path is:
# api_call with its creator's rights (tests/integration/test_job_rights.py), env and secret references
# (tests/integration/test_template_references.py), webhook URLs (tests/integration/test_url_corpus.py), every action on
# admin-only jobs (tests/integration/test_trust_boundary.py). docs/threat-model.md maps each path to its test.

BUILTIN_BODIES: dict[str, dict[str, Any]] = {
    "webhook": {"url": "https://partner.example/hook", "body": {"event": "x"}},
    "api_call": {"url": "/api/my-plugin/sync"},
    "email": {"to": "ops@example.com", "subject": "s", "body": "b"},
    "database_query": {"query": "SELECT 1"},
    "cleanup": {"older_than_days": 30, "dry_run": True},
    "erase_store": {"store_id": "store-z"},
}
ADMIN_ONLY_TYPES = {"database_query", "cleanup", "erase_store"}


@pytest.mark.parametrize("role", ["admin", "owner_a", "plugin_p", "owner_b"])
def test_each_role_creates_exactly_its_builtin_types_in_store_a(stack: Stack, role: str) -> None:
    tok = TOKENS[role]()
    got = {}
    for job_type, body in BUILTIN_BODIES.items():
        job = call(
            stack,
            tok,
            "POST",
            "/api/background-jobs/schedule",
            {"type": job_type, "storeId": "store-a", "payload": body},
        )
        cron = call(stack, tok, "POST", "/api/cron-jobs", cron_body(job_type=job_type, configuration=body))
        got[job_type] = (job.status_code, cron.status_code)
    if role == "owner_b":
        expected = {job_type: (403, 403) for job_type in BUILTIN_BODIES}  # not its store, whatever the type
    else:
        expected = {
            job_type: (403, 403) if job_type in ADMIN_ONLY_TYPES and role != "admin" else (201, 201)
            for job_type in BUILTIN_BODIES
        }
    assert got == expected


# --- debounce and dedup windows: a key is the store's, and the plugin's ---------------------------
# Plugin P opens a window in store A; each role then schedules with the same key. Only P's own
# schedules join P's window: no other store, no other plugin, and no store owner's job (which has
# no plugin) is ever answered with P's job, nor changes its payload.

WINDOW_JOINS = {"plugin_p": (200, True), "admin": (201, False), "owner_a": (201, False), "plugin_q": (201, False)}
WINDOW_JOINS["owner_b"] = (201, False)  # in store B


@pytest.mark.parametrize("window", ["debounce", "dedup"])
@pytest.mark.parametrize("role", list(WINDOW_JOINS))
def test_a_window_key_never_joins_another_tenants_window(stack: Stack, role: str, window: str) -> None:
    spec = {"key": "product-1", "seconds": 60}
    first = stack.post(
        "/api/background-jobs/schedule",
        {"type": IMPORT, "storeId": "store-a", "payload": {"by": "p"}, window: spec},
        TOKENS["plugin_p"](),
    )
    assert first.status_code == 201, first.json_body
    p_job = first.json_body["job"]["id"]
    store = "store-b" if role == "owner_b" else "store-a"
    body = {"type": IMPORT, "storeId": store, "payload": {"by": role}, window: spec}
    answer = stack.post("/api/background-jobs/schedule", body, TOKENS[role]())
    status, joined = WINDOW_JOINS[role]
    assert answer.status_code == status, answer.json_body
    assert (answer.json_body["job"]["id"] == p_job) is joined
    stored = stack.job(p_job)
    expected = {"by": role} if joined and window == "debounce" else {"by": "p"}
    assert stored.payload == expected
