"""The embedded stack as a developer runs it: a real process, real HTTP, real moto."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack, cli_token, poll_json, running_stack
from tests.kit import moto_server

IMPORT_TYPE = "plugin:my-plugin:import"


def schedule(stack: RunningStack, token: str, store_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = {
        "type": IMPORT_TYPE,
        "payload": payload,
        "priority": "normal",
        "maxRetries": 3,
        "storeId": store_id,
        "metadata": {"pluginId": "my-plugin", "description": "e2e"},
    }
    answer = requests.post(
        stack.url("/api/background-jobs/schedule"), json=body, headers=stack.headers(token), timeout=10
    )
    assert answer.status_code == 201, (answer.status_code, answer.text)
    job: dict[str, Any] = answer.json()["job"]
    return job


def wait_until_finished(stack: RunningStack, job_id: str) -> dict[str, Any]:
    body = poll_json(
        stack.url(f"/api/background-jobs/{job_id}/status"),
        stack.headers(),
        lambda b: b["job"]["status"] in ("completed", "failed"),  # type: ignore[index]
    )
    job: dict[str, Any] = body["job"]  # type: ignore[assignment]
    assert job["status"] == "completed", job
    return job


def test_health_answers_without_a_token_and_every_other_route_asks_for_one(embedded_stack: RunningStack) -> None:
    health = requests.get(embedded_stack.url("/api/health"), timeout=5)
    assert health.status_code == 200
    # This stack runs no tick (--no-tick): alive, but the scheduler's heartbeat never came.
    assert health.json()["status"] == "degraded" and health.json()["tick"]["last_at"] is None

    job_id = str(uuid.uuid4())
    for method, path in [
        ("GET", "/api/job-types"),
        ("GET", "/api/background-jobs"),
        ("GET", "/api/background-jobs/stats"),
        ("POST", "/api/background-jobs/schedule"),
        ("GET", f"/api/background-jobs/{job_id}"),
        ("GET", f"/api/background-jobs/{job_id}/status"),
        ("POST", f"/api/background-jobs/{job_id}/cancel"),
        ("POST", f"/api/background-jobs/{job_id}/retry"),
    ]:
        answer = requests.request(method, embedded_stack.url(path), json={} if method == "POST" else None, timeout=5)
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
        assert answer.json()["success"] is False


def test_an_import_job_scheduled_over_http_completes_with_its_counts(embedded_stack: RunningStack) -> None:
    job = schedule(embedded_stack, embedded_stack.admin_token, "store-e2e", {"count": 200})
    assert job["status"] == "pending"

    status = wait_until_finished(embedded_stack, job["id"])
    assert status["result"] == {"total": 200, "successful": 200, "failed": 0}
    assert status["progress"] == 100
    assert status["max_retries"] == 3


def test_make_run_brings_its_own_postgresql_for_database_query_jobs(embedded_stack: RunningStack) -> None:
    if "PostgreSQL:   none" in embedded_stack.output.text() and not os.environ.get("CI"):
        pytest.skip("no PostgreSQL server binaries on this machine; `.ci/ensure-postgres` installs them")
    body = {"type": "database_query", "storeId": "store-e2e", "payload": {"query": "SELECT 41 + 1 AS answer"}}
    answer = requests.post(
        embedded_stack.url("/api/background-jobs/schedule"), json=body, headers=embedded_stack.headers(), timeout=10
    )
    assert answer.status_code == 201, answer.text
    status = wait_until_finished(embedded_stack, answer.json()["job"]["id"])
    assert status["result"]["columns"] == ["answer"] and status["result"]["rows"] == [[42]]


def test_a_cli_store_owner_token_sees_its_store_and_no_other(
    embedded_stack: RunningStack,
) -> None:
    owner = cli_token(embedded_stack, "--role", "store_owner", "--store", "store-cli")
    own_job = schedule(embedded_stack, owner, "store-cli", {"count": 1})
    others_job = schedule(embedded_stack, embedded_stack.admin_token, "store-other", {"count": 1})

    mine = requests.get(
        embedded_stack.url(f"/api/background-jobs/{own_job['id']}/status"),
        headers=embedded_stack.headers(owner),
        timeout=5,
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["job"]["store_id"] == "store-cli"

    theirs = requests.get(
        embedded_stack.url(f"/api/background-jobs/{others_job['id']}/status"),
        headers=embedded_stack.headers(owner),
        timeout=5,
    )
    assert theirs.status_code == 404, theirs.text

    listed = requests.get(embedded_stack.url("/api/background-jobs"), headers=embedded_stack.headers(owner), timeout=5)
    assert listed.status_code == 200, listed.text
    assert {j["store_id"] for j in listed.json()["jobs"]} == {"store-cli"}


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """A moto server of the test's own, standing in for an AWS account."""
    with moto_server() as url:
        yield url


def test_a_restarted_stack_on_the_same_aws_endpoint_keeps_its_jobs(moto_endpoint: str, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with running_stack(state_dir, aws_endpoint_url=moto_endpoint) as first:
        assert f"AWS endpoint: {moto_endpoint}" in first.output.text()
        assert "(embedded moto)" not in first.output.text()
        job = schedule(first, first.admin_token, "store-restart", {"count": 2})
        wait_until_finished(first, job["id"])
        code = first.stop()
        assert code == 0, first.output.text()

    # Provisioning again finds the tables and queues in place; the job and its result are kept.
    with running_stack(state_dir, aws_endpoint_url=moto_endpoint) as second:
        answer = requests.get(
            second.url(f"/api/background-jobs/{job['id']}/status"), headers=second.headers(), timeout=5
        )
        assert answer.status_code == 200, answer.text
        kept = answer.json()["job"]
        assert (kept["id"], kept["store_id"], kept["type"]) == (job["id"], "store-restart", IMPORT_TYPE)
        assert kept["status"] == "completed"
        assert kept["result"] == {"total": 2, "successful": 2, "failed": 0}

        # And the restarted stack still runs new work through the same queues.
        again = schedule(second, second.admin_token, "store-restart", {"count": 3})
        assert wait_until_finished(second, again["id"])["result"] == {"total": 3, "successful": 3, "failed": 0}
