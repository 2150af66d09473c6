"""Who created, changed, paused, ran, cancelled or retried each cron job and job, and when: kept and shown."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack, token


def trail(item: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    assert all(entry["at"].endswith("Z") for entry in item["audit"])
    return [(entry["action"], entry["by"], entry.get("detail")) for entry in item["audit"]]


def test_a_cron_jobs_trail_names_each_principal_and_action(stack: Stack, admin: str, owner_a: str) -> None:
    body = {"name": "n", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-a"}
    cron = stack.post("/api/cron-jobs", body, owner_a).json_body["job"]
    path = f"/api/cron-jobs/{cron['id']}"
    stack.client.http.request(
        "PATCH",
        path,
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
        body=b'{"description": "nightly", "max_retries": 1}',
    )
    stack.post(f"{path}/pause", {}, owner_a)
    stack.post(f"{path}/resume", {}, admin)
    run = stack.post(f"{path}/run", {}, owner_a).json_body["execution"]
    shown = stack.get(path, owner_a).json_body["job"]
    assert trail(shown) == [
        ("created", "store_owner:owner-a", None),
        ("changed", "admin:tester", "description, max_retries"),
        ("paused", "store_owner:owner-a", None),
        ("resumed", "admin:tester", None),
    ]
    assert trail(run) == [("created", "store_owner:owner-a", "run now")]
    [execution] = stack.get(f"{path}/executions", admin).json_body["executions"]
    assert trail(execution) == [("created", "store_owner:owner-a", "run now")]


def test_a_jobs_trail_records_its_creation_cancel_and_retry(stack: Stack, admin: str, owner_a: str) -> None:
    plugin = token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p")
    job = stack.schedule(plugin)
    stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, owner_a)
    stack.post(f"/api/background-jobs/{job['id']}/retry", {}, admin)
    shown = stack.get(f"/api/background-jobs/{job['id']}", plugin).json_body["job"]
    assert trail(shown) == [
        ("created", "plugin:plugin-p", None),
        ("cancelled", "store_owner:owner-a", None),
        ("retried", "admin:tester", None),
    ]
    assert shown["created_by"] == "plugin:plugin-p"


def test_a_cron_firing_is_created_by_its_cron_job(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    body = {"name": "n", "cron_expression": "* * * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-a"}
    cron = stack.post("/api/cron-jobs", body, admin).json_body["job"]
    assert stack.clock is not None
    stack.clock.advance(61)
    stack.runtime.tick.run_tick(stack.clock.now())
    executions = stack.get(f"/api/cron-jobs/{cron['id']}/executions", admin).json_body["executions"]
    assert executions  # the tick queues the next slot a minute ahead, too
    assert all(trail(execution) == [("created", f"cron:{cron['id']}", None)] for execution in executions)
