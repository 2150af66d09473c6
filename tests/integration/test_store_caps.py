"""Each store runs at most its cap of jobs at once, across workers; the rest wait unclaimed, and a
flood from one store does not hold the other stores' jobs behind it (chalicelib/stores/)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.stores.slots import slots_item_id
from tests.conftest import Stack, assert_error, token
from tests.kit import visible_messages

LIMITS = "/api/admin/stores/{}/limits"


def put(stack: Stack, path: str, body: Any, tok: str) -> Any:
    return stack.client.http.put(
        path, headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}, body=_json(body)
    )


def _json(body: Any) -> str:
    import json

    return body if isinstance(body, str) else json.dumps(body)


def set_cap(stack: Stack, admin: str, store: str, cap: int | None, per_plugin: int | None = None) -> dict[str, Any]:
    answer = put(stack, LIMITS.format(store), {"max_running": cap, "max_running_per_plugin": per_plugin}, admin)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body["limits"]


def test_jobs_over_the_cap_wait_unclaimed_and_hidden(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-a", 2)
    # Another container holds both slots.
    held = stack.runtime.store_slots.take("store-a", None, 2, returning=0, now_s=stack.runtime.clock.now().timestamp())
    assert held.n == 2
    jobs = [stack.schedule(admin, type="plugin:test-kit:chatty", payload={}) for _ in range(3)]
    stack.poller.drain()
    for job in jobs:
        waiting = stack.job(job["id"])
        assert waiting.status == JobStatus.PENDING and waiting.attempts == 0  # no attempt used
    assert visible_messages(stack) == 0  # hidden until a slot should be free: no busy polling
    state = stack.runtime.store_slots.state("store-a")
    assert int(state["running"]) == 2 and int(state["waiting"]) == 3


def test_a_quiet_store_runs_while_a_flooding_stores_backlog_waits(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-flood", 2)
    flood = [
        stack.schedule(admin, storeId="store-flood", type="plugin:test-kit:chatty", payload={})["id"] for _ in range(40)
    ]
    quiet = [
        stack.schedule(admin, storeId="store-quiet", type="plugin:test-kit:chatty", payload={})["id"] for _ in range(3)
    ]
    stack.poller.drain()
    assert all(stack.job(job_id).status == JobStatus.COMPLETED for job_id in quiet)
    # In arrival order the quiet jobs would have run after all 40; the flood's jobs over its cap
    # were deferred instead, so most of them still wait.
    waiting = sum(1 for job_id in flood if stack.job(job_id).status == JobStatus.PENDING)
    assert waiting >= 30, waiting


def test_two_containers_racing_for_the_last_slots_get_no_more_than_the_cap(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-a", 3)
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        taken = slots.take("store-a", None, 1, returning=0, now_s=now_s)
        with lock:
            got.append(taken.n)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(got) == 3 and int(slots.state("store-a")["running"]) == 3


def test_the_per_plugin_cap_holds_within_a_store(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-a", 10, per_plugin=1)
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    assert slots.take("store-a", "acme", 3, returning=0, now_s=now_s).n == 1
    assert slots.take("store-a", "acme", 1, returning=0, now_s=now_s).n == 0
    assert slots.take("store-a", "other", 2, returning=0, now_s=now_s).n == 1


def test_a_dead_workers_slots_come_back_when_its_hold_lapses(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-a", 2)
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    assert slots.take("store-a", None, 2, returning=0, now_s=now_s).n == 2  # then its worker dies
    assert slots.take("store-a", None, 1, returning=0, now_s=now_s + slots.hold_s - 1).n == 0
    later = slots.take("store-a", None, 2, returning=0, now_s=now_s + slots.hold_s + 2)
    assert later.n == 2 and int(slots.state("store-a")["running"]) == 2


def test_a_release_gives_the_slots_back_once(stack: Stack, admin: str) -> None:
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    taken = slots.take("store-a", "p", 2, returning=0, now_s=now_s)
    slots.release("store-a", "p", taken, run_s=4.0)
    slots.release("store-a", "p", taken, run_s=4.0)
    state = slots.state("store-a")
    assert int(state["running"]) == 0 and int(state["prun#p"]) == 0 and float(state["mean_run_s"]) > 0


def test_the_limits_routes_show_and_change_a_stores_caps(stack: Stack, admin: str) -> None:
    shown = stack.get(LIMITS.format("store-a"), admin).json_body["limits"]
    defaults = stack.runtime.settings
    assert shown == {
        "store_id": "store-a",
        "max_running": None,
        "max_running_per_plugin": None,
        "effective_max_running": defaults.store_max_running,
        "effective_max_running_per_plugin": defaults.plugin_max_running,
        "running": 0,
        "waiting": 0,
        "paused": False,
        "paused_plugins": [],
    }
    changed = set_cap(stack, admin, "store-a", 7, per_plugin=3)
    assert (changed["effective_max_running"], changed["effective_max_running_per_plugin"]) == (7, 3)
    assert stack.get(LIMITS.format("store-a"), admin).json_body["limits"] == changed
    back = set_cap(stack, admin, "store-a", None)
    assert back["max_running"] is None and back["effective_max_running"] == defaults.store_max_running


@pytest.mark.parametrize("role", ["store_owner", "plugin"])
def test_only_an_admin_may_read_or_set_limits(stack: Stack, role: str) -> None:
    tok = token(role, stores=["store-a"], plugin_id="acme" if role == "plugin" else None)
    assert_error(stack.get(LIMITS.format("store-a"), tok), 403, "admin_only")
    assert_error(put(stack, LIMITS.format("store-a"), {"max_running": 1000}, tok), 403, "admin_only")
    assert stack.runtime.store_slots.limits("store-a").max_running is None


@pytest.mark.parametrize(
    "body",
    [
        {"max_running": -1},
        {"max_running": 1001},
        {"max_running": "many"},
        {"max_running": 1.5},
        {"max_running_per_plugin": -3},
        {"cap": 3},
        [],
        "not json",
    ],
)
def test_bad_limits_are_a_400_with_a_code(stack: Stack, admin: str, body: Any) -> None:
    answer = put(stack, LIMITS.format("store-a"), body, admin)
    assert answer.status_code == 400 and answer.json_body["code"] in ("validation_error", "invalid_json"), (
        answer.json_body
    )


def test_a_store_id_no_store_can_have_is_a_400(stack: Stack, admin: str) -> None:
    assert_error(stack.get(LIMITS.format("bad%20id"), admin), 400, "validation_error")


def test_the_slot_item_is_not_a_job(stack: Stack, admin: str) -> None:
    stack.runtime.store_slots.take("store-a", None, 1, returning=0, now_s=0)
    assert stack.runtime.store.get(slots_item_id("store-a")) is None
    listed = stack.get("/api/background-jobs?store_id=store-a", admin).json_body["jobs"]
    assert listed == []


def test_a_running_batch_keeps_its_slots_by_renewing_them(stack: Stack, admin: str) -> None:
    set_cap(stack, admin, "store-a", 2)
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    held = slots.take("store-a", None, 2, returning=0, now_s=now_s)
    slots.renew("store-a", held, now_s=now_s + slots.hold_s - 1)
    assert slots.take("store-a", None, 1, returning=0, now_s=now_s + slots.hold_s + 2).n == 0
