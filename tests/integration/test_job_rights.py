"""A job acts with exactly the rights of the principal that created it; a cron run, with the rights of
whoever last saved what it runs. Shown through ``api_call``, the built-in type that calls this API:
over real HTTP, each refusal comes from the API's own tenant checks."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import SECRET, Receiver, Stack, token

OWNER_A = token("store_owner", stores=["store-a"], sub="owner-a")
PLUGIN_P = token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p")
ADMIN = token("admin", sub="alice")


def api_call(stack: Stack, tok: str, url: str, **fields: Any) -> Any:
    """Schedule a GET api_call in store-a, run it, and return the job as it ended."""
    payload = {"url": url, "method": "GET", **fields}
    job = stack.schedule(tok, type="api_call", payload=payload, maxRetries=0)
    stack.poller.drain()
    return stack.job(job["id"])


@pytest.fixture
def store_b(served_stack: Stack) -> dict[str, str]:
    """Store B's background job and cron job, which nobody of store A may reach."""
    owner_b = token("store_owner", stores=["store-b"], sub="owner-b")
    job = served_stack.schedule(owner_b, storeId="store-b")
    cron = served_stack.post(
        "/api/cron-jobs",
        {"name": "b", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-b"},
        owner_b,
    ).json_body["job"]
    return {"job": job["id"], "cron": cron["id"]}


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/api/background-jobs/{job}/status", 404),
        ("/api/background-jobs/{job}", 404),
        ("/api/cron-jobs/{cron}", 404),
        ("/api/cron-jobs/{cron}/executions", 404),
        ("/api/background-jobs?store_id=store-b", 403),
        ("/api/cron-jobs?store_id=store-b", 403),
        ("/api/admin/dead-letters", 403),
    ],
)
@pytest.mark.parametrize("creator", ["owner_a", "plugin_p"])
def test_a_tenants_api_call_outside_its_rights_fails_with_the_refusal(
    served_stack: Stack, store_b: dict[str, str], target: str, status: int, creator: str
) -> None:
    tok = {"owner_a": OWNER_A, "plugin_p": PLUGIN_P}[creator]
    done = api_call(served_stack, tok, target.format(**store_b))
    assert done.status == JobStatus.FAILED
    assert f"answered {status}" in (done.error or ""), done.error
    assert done.result is None


def test_an_admins_api_call_reaches_another_stores_job(served_stack: Stack, store_b: dict[str, str]) -> None:
    done = api_call(served_stack, ADMIN, f"/api/background-jobs/{store_b['job']}/status")
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["body"]["job"]["store_id"] == "store-b"


def test_a_store_owners_api_call_reaches_its_own_store(served_stack: Stack) -> None:
    mine = served_stack.schedule(OWNER_A)
    done = api_call(served_stack, OWNER_A, f"/api/background-jobs/{mine['id']}/status")
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["body"]["job"]["id"] == mine["id"]


def test_a_plugins_api_call_does_not_see_another_plugins_job_in_its_store(served_stack: Stack) -> None:
    plugin_q = token("plugin", stores=["store-a"], plugin_id="plugin-q", sub="plugin-q")
    theirs = served_stack.schedule(plugin_q)
    done = api_call(served_stack, PLUGIN_P, f"/api/background-jobs/{theirs['id']}/status")
    assert done.status == JobStatus.FAILED and "answered 404" in (done.error or "")


@pytest.fixture
def api_at_receiver(receiver: str, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """api_call aimed at a recording server instead of this API: the token it sends can be read."""
    stack.configure(monkeypatch, api_base_url=f"http://{receiver}")
    return receiver


def sent_claims() -> dict[str, Any]:
    [request] = Receiver.received
    scheme, _, sent = request["headers"]["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return jwt.decode(sent, SECRET, algorithms=["HS256"])


def test_the_token_carries_the_creators_rights_for_one_request_only(stack: Stack, api_at_receiver: str) -> None:
    job = stack.schedule(PLUGIN_P, type="api_call", payload={"url": "/hook", "timeout": 10}, maxRetries=0)
    stack.poller.drain()
    assert stack.job(job["id"]).status == JobStatus.COMPLETED
    claims = sent_claims()
    assert claims["role"] == "plugin" and claims["stores"] == ["store-a"] and claims["plugin_id"] == "plugin-p"
    assert claims["sub"] == "plugin-p"
    assert claims["exp"] - claims["iat"] <= 10 + 5


def cron_api_call(stack: Stack, tok: str, url: str) -> dict[str, Any]:
    body = {
        "name": "call",
        "cron_expression": "0 2 * * *",
        "job_type": "api_call",
        "store_id": "store-a",
        "configuration": {"url": url},
    }
    response = stack.post("/api/cron-jobs", body, tok)
    assert response.status_code == 201, response.json_body
    return response.json_body["job"]


def run_now_claims(stack: Stack, cron_id: str, tok: str) -> dict[str, Any]:
    Receiver.received = []
    assert stack.post(f"/api/cron-jobs/{cron_id}/run", {}, tok).status_code == 202
    stack.poller.drain()
    return sent_claims()


def patch(stack: Stack, cron_id: str, body: dict[str, Any], tok: str) -> None:
    response = stack.client.http.patch(
        f"/api/cron-jobs/{cron_id}",
        headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
        body=__import__("json").dumps(body),
    )
    assert response.status_code == 200, response.json_body


def test_a_cron_run_acts_with_the_rights_of_who_last_saved_what_it_runs(stack: Stack, api_at_receiver: str) -> None:
    cron = cron_api_call(stack, OWNER_A, "/hook")
    assert run_now_claims(stack, cron["id"], ADMIN)["role"] == "store_owner"  # who runs it does not matter
    # An admin renaming a tenant's job does not lift the tenant's words to admin rights...
    patch(stack, cron["id"], {"name": "renamed"}, ADMIN)
    assert run_now_claims(stack, cron["id"], OWNER_A)["role"] == "store_owner"
    # ...an admin rewriting what it runs takes it over...
    patch(stack, cron["id"], {"configuration": {"url": "/hook2"}}, ADMIN)
    claims = run_now_claims(stack, cron["id"], OWNER_A)
    assert claims["role"] == "admin" and claims["sub"] == "alice"
    # ...and any later save by the tenant brings it back to the tenant's rights.
    patch(stack, cron["id"], {"name": "mine again"}, OWNER_A)
    assert run_now_claims(stack, cron["id"], OWNER_A)["role"] == "store_owner"


def test_the_rights_are_never_shown(stack: Stack) -> None:
    job = stack.schedule(OWNER_A)
    assert "rights" not in stack.get(f"/api/background-jobs/{job['id']}", OWNER_A).json_body["job"]
    cron = cron_api_call(stack, OWNER_A, "/hook")
    assert "rights" not in stack.get(f"/api/cron-jobs/{cron['id']}", OWNER_A).json_body["job"]


def test_a_job_stored_without_rights_acts_as_an_owner_of_its_store(stack: Stack, api_at_receiver: str) -> None:
    job = stack.schedule(ADMIN, type="api_call", payload={"url": "/hook"}, maxRetries=0, storeId="store-a")
    stack.runtime.store._table.update_item(Key={"id": job["id"]}, UpdateExpression="REMOVE rights")
    stack.poller.drain()
    claims = sent_claims()
    assert claims["role"] == "store_owner" and claims["stores"] == ["store-a"]
