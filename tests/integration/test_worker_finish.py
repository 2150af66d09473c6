"""How an attempt ends when a cancel was acknowledged meanwhile."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chalicelib.clock import ManualClock, to_iso
from chalicelib.config import Settings
from chalicelib.crons.slots import slot_job_id
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack, built_stack
from tests.kit import T, at, create_cron, hold_first_run, tick, visible_messages


def cancel_running(stack: Stack, job_id: str, admin: str) -> None:
    """Cancel through the API a job a worker holds: acknowledged as ``cancelling``."""
    answer = stack.post(f"/api/background-jobs/{job_id}/cancel", {}, admin)
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["job"]["status"] == "cancelling"


def cancel_from_inside(stack: Stack, job_id: str, admin: str) -> None:
    """The cancel lands while the handler runs."""
    handlers.hooks[job_id] = lambda: cancel_running(stack, job_id, admin)


def test_raising_after_an_acknowledged_cancel_ends_cancelled_not_retried(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:hooked", payload={"end": "raise"}, maxRetries=3)
    cancel_from_inside(stack, job["id"], admin)
    stack.poller.drain()
    stack.poller.drain()
    ended = stack.job(job["id"])
    assert ended.status == JobStatus.CANCELLED
    assert ended.error == (
        "cancelled: the attempt failed after the cancel was acknowledged (RuntimeError: failed after the hook)"
    )
    assert ended.attempts == 1 and ended.next_attempt_at is None and ended.lease_token is None
    assert handlers.starts[job["id"]] == 1
    assert visible_messages(stack) == 0  # deleted: no retry is coming


def test_returning_after_an_acknowledged_cancel_ends_cancelled_with_result(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:hooked", payload={})
    cancel_from_inside(stack, job["id"], admin)
    stack.poller.drain()
    ended = stack.job(job["id"])
    assert ended.status == JobStatus.CANCELLED
    assert ended.result == {"done": True, "blob": ""}  # the work done is not lost
    assert ended.error == "cancelled: the handler finished after the cancel was acknowledged"
    assert any(line.endswith(ended.error) for line in ended.logs)
    assert visible_messages(stack) == 0


def test_timing_out_after_an_acknowledged_cancel_ends_cancelled(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    job = stack.schedule(
        admin, type="plugin:test-kit:hooked", payload={"overrun_s": 60}, timeout_seconds=25, maxRetries=3
    )
    cancel_from_inside(stack, job["id"], admin)
    stack.poller.drain()
    ended = stack.job(job["id"])
    assert ended.status == JobStatus.CANCELLED and ended.attempts == 1
    assert ended.error == (
        "cancelled: the attempt failed after the cancel was acknowledged "
        "(JobTimedOut: the attempt ran past its timeout of 25 s)"
    )
    assert handlers.completions[job["id"]] == 0


def test_a_buffer_one_run_cancelled_before_waiting_again_stays_cancelled(
    settings: Settings, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with built_stack(dataclasses.replace(settings, run_after_poll_s=1), ManualClock(T)) as stack:
        cron = create_cron(stack, admin, overlap_policy="buffer_one")
        tick(stack, at(5))
        first = hold_first_run(stack, cron["id"], 30)
        tick(stack, at(10))
        buffered_id = slot_job_id(cron["id"], at(10))
        store = stack.runtime.store
        release = store.release

        def cancel_then_release(job: Any, **fields: Any) -> Any:
            # The worker claimed the run and found its predecessor running: the cancel lands now.
            cancel_running(stack, buffered_id, admin)
            return release(job, **fields)

        monkeypatch.setattr(store, "release", cancel_then_release)
        stack.poller.drain()
        cancelled = stack.job(buffered_id)
        assert cancelled.status == JobStatus.CANCELLED and cancelled.error == "cancelled"
        # The previous run ends; nothing waits for it any more.
        store.finish(first, lease_token="w", status=JobStatus.COMPLETED, now=to_iso(at(16)))
        stack.clock.advance(2)  # type: ignore[union-attr]
        stack.poller.drain()
        assert stack.job(buffered_id).status == JobStatus.CANCELLED
        assert handlers.starts[buffered_id] == 0
