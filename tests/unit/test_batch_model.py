"""A batch's progress and final state, from its counts (pure)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import Principal, Role
from chalicelib.batches.model import Batch, BatchState, Callback, LiveCounts, callback_id, child_id, progress
from chalicelib.rights import Rights


def batch(**fields: Any) -> Batch:
    base: dict[str, Any] = {
        "id": "b",
        "store_id": "store-a",
        "plugin_id": None,
        "state": BatchState.OPEN,
        "total": 4,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "created_at": "2026-11-30T00:00:00Z",
        "updated_at": "2026-11-30T00:00:00Z",
        "created_by": "store_owner:o",
        "rights": Rights.of(Principal(subject="o", role=Role.STORE_OWNER, stores=frozenset({"store-a"}))),
    }
    return Batch(**{**base, **fields})


def test_progress_is_the_mean_with_ended_children_at_100() -> None:
    assert progress(batch(), LiveCounts(pending=4)) == 0
    # Two ended (one failed), the other two at 50 and 30: (200 + 80) / 4.
    assert progress(batch(completed=1, failed=1), LiveCounts(running=2, progress_sum=80)) == 70
    # Every child at 100 but one not yet counted: not 100 until the batch is final.
    assert progress(batch(completed=3), LiveCounts(running=1, progress_sum=100)) == 99
    assert progress(batch(state=BatchState.FINISHED, completed=3, cancelled=1), LiveCounts()) == 100


def test_a_batch_succeeds_only_if_every_child_it_was_asked_for_completed() -> None:
    assert batch(completed=4).final_state() == BatchState.SUCCEEDED
    assert batch(completed=3, failed=1).final_state() == BatchState.FINISHED
    assert batch(total=0, note="creation was cut short").final_state() == BatchState.FINISHED
    done = batch(state=BatchState.FINISHED, completed=3, failed=1, on_complete=None)
    assert done.callbacks_due() == []


def test_derived_ids_are_stable_and_distinct() -> None:
    assert child_id("b", 0) == child_id("b", 0) != child_id("b", 1) != child_id("c", 1)
    assert callback_id("b", Callback.ON_COMPLETE) != callback_id("b", Callback.ON_SUCCESS)
