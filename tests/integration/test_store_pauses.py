"""An admin pauses a store, or one plugin in it: its jobs wait pending with no attempt used, the
tick fires none of its cron jobs, and all of it goes on after the resume; other stores and
plugins never notice (chalicelib/api/store_pauses.py, chalicelib/stores/)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack, assert_error, token
from tests.kit import at, create_cron, drain_until, duplicate_message, executions, tick, visible_messages

STORE = "/api/admin/stores/{}"
IMPORT = "plugin:my-plugin:import"


def pause(stack: Stack, tok: str, store: str, plugin: str | None = None, action: str = "pause") -> Any:
    path = STORE.format(store) + (f"/plugins/{plugin}" if plugin else "") + f"/{action}"
    return stack.post(path, {}, tok)


def paused_ok(stack: Stack, admin: str, store: str, plugin: str | None = None, action: str = "pause") -> dict[str, Any]:
    answer = pause(stack, admin, store, plugin, action)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body["limits"]


@pytest.fixture
def quick_recheck(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """Paused jobs look again after 2 s (SQS keeps real time here), not the default minute."""
    stack.configure(monkeypatch, paused_recheck_s=2)
    return stack


def waits_unclaimed(stack: Stack, job_id: str) -> bool:
    job = stack.job(job_id)
    return job.status == JobStatus.PENDING and job.attempts == 0


def test_a_paused_stores_jobs_wait_unclaimed_and_run_after_the_resume(quick_recheck: Stack, admin: str) -> None:
    stack = quick_recheck
    queued = stack.schedule(admin)["id"]  # in the queue before the pause
    paused_ok(stack, admin, "store-a")
    new = stack.schedule(admin)["id"]  # scheduled while paused: accepted, and waits
    other = stack.schedule(admin, storeId="store-b")["id"]
    drain_until(stack, lambda: stack.job(other).status == JobStatus.COMPLETED)
    stack.poller.drain()
    assert waits_unclaimed(stack, queued) and waits_unclaimed(stack, new)
    assert visible_messages(stack) == 0  # hidden until the recheck: no busy polling
    # A recheck while still paused hides them again, still without an attempt.
    _drain_for(stack, 2.5)
    assert waits_unclaimed(stack, queued) and waits_unclaimed(stack, new)
    paused_ok(stack, admin, "store-a", action="resume")
    drain_until(stack, lambda: all(stack.job(i).status == JobStatus.COMPLETED for i in (queued, new)))
    assert stack.job(queued).attempts == 1 and stack.job(new).attempts == 1


def _drain_for(stack: Stack, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stack.poller.drain()
        time.sleep(0.05)


def test_a_paused_plugin_waits_while_the_stores_other_plugins_and_other_stores_run(
    quick_recheck: Stack, admin: str
) -> None:
    stack = quick_recheck
    paused_ok(stack, admin, "store-a", "plugin-p")

    def as_plugin(plugin: str, store: str) -> str:
        return stack.schedule(token("plugin", stores=[store], plugin_id=plugin), storeId=store)["id"]

    held = as_plugin("plugin-p", "store-a")
    same_store = as_plugin("plugin-q", "store-a")
    same_plugin_elsewhere = as_plugin("plugin-p", "store-b")
    no_plugin = stack.schedule(admin)["id"]
    running = (same_store, same_plugin_elsewhere, no_plugin)
    drain_until(stack, lambda: all(stack.job(i).status == JobStatus.COMPLETED for i in running))
    assert waits_unclaimed(stack, held)
    shown = stack.get(STORE.format("store-a") + "/limits", admin).json_body["limits"]
    assert (shown["paused"], shown["paused_plugins"]) == (False, ["plugin-p"])
    paused_ok(stack, admin, "store-a", "plugin-p", action="resume")
    drain_until(stack, lambda: stack.job(held).status == JobStatus.COMPLETED)


def test_the_tick_fires_no_cron_job_of_a_paused_store_and_fires_again_after_the_resume(
    clocked_stack: Stack, admin: str
) -> None:
    stack = clocked_stack
    paused_cron = create_cron(stack, admin)["id"]  # */5 in store-a: 12:05, 12:10, ...
    other_cron = create_cron(stack, admin, store_id="store-b")["id"]
    paused_ok(stack, admin, "store-a")
    report = tick(stack, at(4))  # queues the 12:05 slots ahead
    assert report.paused == 1
    assert executions(stack, paused_cron) == []
    assert [job.cron_slot for job in executions(stack, other_cron)] == ["2026-11-28T12:05:00.000000Z"]
    before = stack.runtime.cron_store.get(paused_cron)
    tick(stack, at(9))
    assert executions(stack, paused_cron) == []
    assert stack.runtime.cron_store.get(paused_cron) == before  # left as it was: no write per tick
    paused_ok(stack, admin, "store-a", action="resume")
    tick(stack, at(14))
    slots = sorted(job.cron_slot for job in executions(stack, paused_cron))
    # As a resumed cron job's: the missed slots follow its misfire policy (run_once: one run for
    # them, the latest), then the schedule goes on.
    assert slots == ["2026-11-28T12:10:00.000000Z", "2026-11-28T12:15:00.000000Z"]


def test_a_paused_stores_overdue_jobs_are_not_sent_again_by_the_tick(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    paused_ok(stack, admin, "store-a")
    waiting = stack.schedule(admin)["id"]
    stack.poller.drain()  # received and hidden: the queue looks idle, the job overdue
    assert waits_unclaimed(stack, waiting) and visible_messages(stack) == 0
    report = tick(stack, at(10))
    assert report.requeued == 0 and visible_messages(stack) == 0


def test_a_message_that_names_no_store_does_not_start_a_paused_stores_job(clocked_stack: Stack, admin: str) -> None:
    # Sent before messages named their store (or by hand): the gate reads its job's store.
    stack = clocked_stack
    paused_ok(stack, admin, "store-a")
    waiting = stack.schedule(admin)["id"]
    stack.poller.drain()
    duplicate_message(stack, waiting)  # {"job_id": ...} only
    stack.poller.drain()
    assert waits_unclaimed(stack, waiting) and visible_messages(stack) == 0


def test_the_limits_route_shows_the_pause(stack: Stack, admin: str) -> None:
    shown = paused_ok(stack, admin, "store-a")
    assert (shown["paused"], shown["paused_plugins"]) == (True, [])
    paused_ok(stack, admin, "store-a", "plugin.b")
    paused_ok(stack, admin, "store-a", "plugin-a")
    again = paused_ok(stack, admin, "store-a")  # pausing twice is pausing
    assert (again["paused"], again["paused_plugins"]) == (True, ["plugin-a", "plugin.b"])
    assert stack.get(STORE.format("store-a") + "/limits", admin).json_body["limits"] == again
    resumed = paused_ok(stack, admin, "store-a", action="resume")
    assert (resumed["paused"], resumed["paused_plugins"]) == (False, ["plugin-a", "plugin.b"])
    assert stack.get(STORE.format("store-b") + "/limits", admin).json_body["limits"]["paused"] is False


@pytest.mark.parametrize("role", ["store_owner", "plugin"])
@pytest.mark.parametrize("plugin", [None, "plugin-p"])
@pytest.mark.parametrize("action", ["pause", "resume"])
def test_only_an_admin_may_pause_or_resume(stack: Stack, role: str, plugin: str | None, action: str) -> None:
    tok = token(role, stores=["store-a"], plugin_id="plugin-p" if role == "plugin" else None)
    assert_error(pause(stack, tok, "store-a", plugin, action), 403, "admin_only")
    assert stack.runtime.store_slots.state("store-a") == {}


@pytest.mark.parametrize(
    ("store", "plugin", "field"),
    [
        ("bad%20id", None, "store_id"),
        ("-dash", None, "store_id"),
        ("store-a", "bad%20id", "plugin_id"),
        ("s", "x" * 129, "plugin_id"),
    ],
)
def test_ids_no_store_or_plugin_can_have_are_a_400(
    stack: Stack, admin: str, store: str, plugin: str | None, field: str
) -> None:
    body = assert_error(pause(stack, admin, store, plugin), 400, "validation_error")
    assert body["details"][0]["field"] == field


def test_the_platforms_own_store_cannot_be_paused(stack: Stack, admin: str) -> None:
    assert_error(pause(stack, admin, "platform"), 400, "reserved_store")
    assert_error(pause(stack, admin, "platform", "plugin-p"), 400, "reserved_store")


def test_a_worker_that_saw_the_store_before_the_pause_takes_no_slot_after_it(stack: Stack, admin: str) -> None:
    slots = stack.runtime.store_slots
    now_s = stack.runtime.clock.now().timestamp()
    assert slots.take("store-a", "plugin-p", 1, returning=0, now_s=now_s).n == 1  # its view: room, no pause
    slots.set_paused("store-a", None, True)
    slots._believe("store-a", {"running": 1})  # what this container last saw: before the pause
    taken = slots.take("store-a", "plugin-p", 2, returning=0, now_s=now_s)
    assert (taken.n, taken.paused) == (0, True)
    paused_ok(stack, admin, "store-a", action="resume")
    paused_ok(stack, admin, "store-a", "plugin-p")
    slots._believe("store-a", {"running": 1})
    assert slots.take("store-a", "plugin-p", 2, returning=0, now_s=now_s).n == 0
    assert slots.take("store-a", "plugin-q", 2, returning=0, now_s=now_s).n == 2
