"""A store's batches listed (scoped, newest first, paged) and a batch's callbacks as its view shows them."""

from __future__ import annotations

from typing import Any

from chalicelib.batches.model import Callback, callback_id
from tests.conftest import Stack, assert_error, token

OWNER_A = token("store_owner", stores=["store-a"])
OWNER_B = token("store_owner", stores=["store-b"])
OWNER_AB = token("store_owner", stores=["store-a", "store-b"])
ADMIN = token("admin")
FLAKY = "plugin:test-kit:flaky"


def child(failures: int = 0) -> dict[str, Any]:
    return {"type": FLAKY, "payload": {"failures": failures}, "max_retries": 0}


def create(stack: Stack, store: str, tok: str, **fields: Any) -> dict[str, Any]:
    body = {"store_id": store, "jobs": [child()], **fields}
    answer = stack.post("/api/background-jobs/batches", body, tok)
    assert answer.status_code == 201, answer.json_body
    batch: dict[str, Any] = answer.json_body["batch"]
    return batch


def listed(stack: Stack, query: str, tok: str) -> Any:
    return stack.get(f"/api/background-jobs/batches?{query}", tok)


def ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.json_body
    return [batch["id"] for batch in answer.json_body["batches"]]


def test_a_stores_batches_are_listed_newest_first_a_page_at_a_time(clocked_stack: Stack) -> None:
    stack = clocked_stack
    assert stack.clock is not None
    made = []
    for n in range(5):
        made.append(create(stack, "store-a", OWNER_A, description=f"batch {n}")["id"])
        stack.clock.advance(1)
    create(stack, "store-b", OWNER_B)
    newest_first = list(reversed(made))

    first = listed(stack, "store_id=store-a&limit=2", OWNER_A)
    assert ids(first) == newest_first[:2]
    token_ = first.json_body["next_token"]
    rest = listed(stack, f"store_id=store-a&limit=10&next_token={token_}", OWNER_A)
    assert ids(rest) == newest_first[2:] and rest.json_body["next_token"] is None
    row = first.json_body["batches"][0]
    assert (row["description"], row["status"], row["total"], row["store_id"]) == ("batch 4", "open", 1, "store-a")
    assert "callbacks" not in row and "pending" not in row  # a listing reads no child

    # A token of one store's listing resumes no other.
    assert_error(listed(stack, f"store_id=store-b&next_token={token_}", ADMIN), 400, "invalid_next_token")
    # The token's only store is the default; several stores (or an admin) name one.
    assert ids(listed(stack, "", OWNER_A)) == newest_first
    assert_error(listed(stack, "", OWNER_AB), 400, "store_id_required")
    assert_error(listed(stack, "", ADMIN), 400, "store_id_required")
    assert ids(listed(stack, "store_id=store-a", ADMIN)) == newest_first


def test_status_filters_the_listing(stack: Stack) -> None:
    done = create(stack, "store-a", OWNER_A)
    stack.poller.drain()
    stack.poller.drain()
    waiting = create(stack, "store-a", OWNER_A, jobs=[{**child(), "delay": 3600}])
    assert ids(listed(stack, "store_id=store-a&status=succeeded", OWNER_A)) == [done["id"]]
    assert ids(listed(stack, "store_id=store-a&status=open", OWNER_A)) == [waiting["id"]]
    assert ids(listed(stack, "store_id=store-a&status=finished", OWNER_A)) == []
    wrong = assert_error(listed(stack, "store_id=store-a&status=done", OWNER_A), 400, "validation_error")
    assert wrong["details"] == [{"field": "status", "message": "unknown status"}]


def test_a_token_lists_only_the_batches_it_may_see(stack: Stack) -> None:
    of_a = create(stack, "store-a", OWNER_A)["id"]
    of_b = create(stack, "store-b", OWNER_B)["id"]
    plugin_p = token("plugin", stores=["store-a"], plugin_id="plugin-p")
    plugin_q = token("plugin", stores=["store-a"], plugin_id="plugin-q")
    of_p = create(stack, "store-a", plugin_p, jobs=[{"type": "plugin:my-plugin:import"}])["id"]

    # Store B's token never sees store A's batches: naming store A is refused, its own list holds only B's.
    assert_error(listed(stack, "store_id=store-a", OWNER_B), 403, "store_forbidden")
    assert ids(listed(stack, "", OWNER_B)) == [of_b]
    assert set(ids(listed(stack, "store_id=store-a", OWNER_A))) == {of_a, of_p}
    # A plugin sees only its own.
    assert ids(listed(stack, "store_id=store-a", plugin_p)) == [of_p]
    assert ids(listed(stack, "store_id=store-a", plugin_q)) == []
    assert_error(listed(stack, "store_id=store-b", plugin_p), 403, "store_forbidden")


def test_the_view_shows_each_callback_waiting_then_queued_with_its_job(stack: Stack) -> None:
    callbacks = {"on_complete": {"type": FLAKY, "priority": "high"}, "on_success": {"type": FLAKY}}
    batch = create(stack, "store-a", OWNER_A, jobs=[child(), child()], **callbacks)
    assert "callbacks" not in batch  # the creation's answer reads no callback
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER_A).json_body["batch"]
    assert [(c["name"], c["type"], c["priority"], c["state"], c["job_id"]) for c in shown["callbacks"]] == [
        ("on_complete", FLAKY, "high", "waiting", None),
        ("on_success", FLAKY, "normal", "waiting", None),
    ]
    stack.poller.drain()
    stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER_A).json_body["batch"]
    assert shown["status"] == "succeeded"
    for callback, which in zip(shown["callbacks"], (Callback.ON_COMPLETE, Callback.ON_SUCCESS), strict=True):
        assert callback["state"] == "queued" and callback["job_id"] == callback_id(batch["id"], which)
        assert callback["job_status"] == "completed" and callback["finished_at"] >= callback["queued_at"]
        job = stack.get(f"/api/background-jobs/{callback['job_id']}", OWNER_A).json_body["job"]
        assert job["metadata"]["callback_of"] == batch["id"]


def test_on_success_of_a_batch_not_all_completed_shows_as_skipped(stack: Stack) -> None:
    body = {"jobs": [child(), child(failures=5)], "on_complete": {"type": FLAKY}, "on_success": {"type": FLAKY}}
    batch = create(stack, "store-a", OWNER_A, **body)
    stack.poller.drain()
    stack.poller.drain()
    shown = stack.get(f"/api/background-jobs/batches/{batch['id']}", OWNER_A).json_body["batch"]
    assert shown["status"] == "finished"
    assert [(c["name"], c["state"], c["job_status"]) for c in shown["callbacks"]] == [
        ("on_complete", "queued", "completed"),
        ("on_success", "skipped", None),
    ]
    plain = create(stack, "store-a", OWNER_A)["id"]
    assert stack.get(f"/api/background-jobs/batches/{plain}", OWNER_A).json_body["batch"]["callbacks"] == []
