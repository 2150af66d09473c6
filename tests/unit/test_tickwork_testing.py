"""The plugin authors' test kit (tickwork_testing): one attempt inline, ended as the worker ends it.

Pure: no AWS, no moto. tests/integration/test_tickwork_testing_parity.py runs the same handlers
through the real worker on moto and checks the kit tells the same story.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.clock import ManualClock, from_iso
from chalicelib.config import Settings
from chalicelib.errors import BadRequestError
from chalicelib.jobs.attempt import MAX_CHECKPOINT_BYTES, MAX_LOG_LINE_CHARS
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.signals import JobCancelled, JobTimedOut, PermanentJobError
from chalicelib.jobs.values import MAX_RESULT_BYTES
from plugins.my_plugin.jobs.import_job import ImportPayload, MyImportJob
from tickwork_testing import ProgressCall, RunStatus, run_handler

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Reporter(BaseJobHandler):
    """Reports each value of ``payload.reports`` (floats allowed), then returns how many it made."""

    def execute(self) -> dict[str, Any]:
        for value in self.job.payload["reports"]:
            self.update_progress(value, f"at {value}")
        return {"reports": len(self.job.payload["reports"])}


class Talker(BaseJobHandler):
    def execute(self) -> None:
        for line in self.job.payload["lines"]:
            self.log(line)


class Swallower(BaseJobHandler):
    """Counts per-item failures with ``except Exception``, as the guide's loop does."""

    def execute(self) -> dict[str, int]:
        failed = 0
        for i in range(5):
            try:
                self.update_progress(i * 20, f"item {i}")
            except Exception:
                failed += 1
        return {"failed": failed}


class Keeper(BaseJobHandler):
    """Keeps what it did when cancelled."""

    def execute(self) -> dict[str, list[int]]:
        done: list[int] = []
        try:
            for i in range(5):
                self.update_progress(i * 20)
                done.append(i)
        except JobCancelled:
            raise JobCancelled(partial_result={"done": done}) from None
        return {"done": done}


class Ignorer(BaseJobHandler):
    """Catches the cancel and returns anyway."""

    def execute(self) -> str:
        with contextlib.suppress(JobCancelled):
            self.update_progress(50)
        return "finished anyway"


class Poller(BaseJobHandler):
    def execute(self) -> list[bool]:
        seen = [self.is_cancelled()]
        try:
            self.update_progress(10)
        except JobCancelled:
            seen.append(self.is_cancelled())
            raise
        return seen


class Slow(BaseJobHandler):
    """Each item takes ``payload.item_s`` seconds on the test's clock."""

    clock: ManualClock

    def execute(self) -> int:
        for i in range(4):
            type(self).clock.advance(self.job.payload["item_s"])
            self.update_progress(25 * (i + 1))
        return 4


class SilentSlow(BaseJobHandler):
    clock: ManualClock

    def execute(self) -> str:
        type(self).clock.advance(120)
        return "late"


class Misconfigured(BaseJobHandler):
    def execute(self) -> None:
        self.log("checking the configuration")
        raise PermanentJobError("no API key set")


class Broken(BaseJobHandler):
    def execute(self) -> None:
        raise RuntimeError("supplier API down")


class Huge(BaseJobHandler):
    def execute(self) -> str:
        return "x" * (MAX_RESULT_BYTES + 1)


class BigCheckpoint(BaseJobHandler):
    def execute(self) -> None:
        self.checkpoint({"blob": "x" * MAX_CHECKPOINT_BYTES})


def test_a_completed_run_keeps_result_progress_calls_logs_and_checkpoints() -> None:
    run = run_handler(MyImportJob, payload={"count": 3}, payload_model=ImportPayload)
    assert run.status == RunStatus.COMPLETED and run.error is None
    assert run.result == {"total": 3, "successful": 3, "failed": 0}
    assert run.progress_calls == [
        ProgressCall(10, "Fetching data..."),
        ProgressCall(50, "Processing 3 items..."),
        ProgressCall(50, "Importing: general item 0 (1/3)"),
        ProgressCall(65, "Importing: general item 1 (2/3)"),
        ProgressCall(80, "Importing: general item 2 (3/3)"),
        ProgressCall(100, "Import completed"),
    ]
    assert (run.progress, run.progress_message) == (100, "Import completed")
    assert run.log_messages == ["Starting import from external-api"]
    # Each checkpoint as it was saved, not as the handler's dict looked at the end.
    assert [c["results"]["successful"] for c in run.checkpoints] == [1, 2, 3]
    assert run.checkpoint == {"next": 3, "results": {"total": 3, "successful": 3, "failed": 0}}


def test_progress_is_rounded_and_clamped_as_the_worker_keeps_it() -> None:
    run = run_handler(Reporter, payload={"reports": [-5, 33.4, 66.6, 150]})
    assert [call.percent for call in run.progress_calls] == [0, 33, 67, 100]
    assert run.progress_calls[0].message == "at -5"


def test_log_lines_are_timestamped_on_the_clock_cut_and_capped() -> None:
    clock = ManualClock(T0)
    lines = ["short", "y" * (MAX_LOG_LINE_CHARS + 50), *[f"line {n}" for n in range(Settings().max_log_lines)]]
    run = run_handler(Talker, payload={"lines": lines}, clock=clock)
    assert len(run.logs) == Settings().max_log_lines
    assert run.log_messages[-1] == f"line {Settings().max_log_lines - 1}"
    assert all(from_iso(line.split(" ", 1)[0]) == T0 for line in run.logs)
    cut = run_handler(Talker, payload={"lines": ["y" * (MAX_LOG_LINE_CHARS + 50)]}, clock=clock)
    assert cut.log_messages == ["y" * MAX_LOG_LINE_CHARS]


def test_a_payload_model_refuses_a_bad_payload_as_scheduling_would() -> None:
    with pytest.raises(BadRequestError) as refused:
        run_handler(MyImportJob, payload={"count": -1}, payload_model=ImportPayload)
    assert refused.value.details[0]["field"] == "payload.count"


def test_cancel_at_the_nth_report_raises_there_and_ends_cancelled() -> None:
    run = run_handler(MyImportJob, payload={"count": 5}, cancel_at_progress=4)
    assert run.status == RunStatus.CANCELLED and run.error == "cancelled"
    assert len(run.progress_calls) == 4  # the Nth report is kept, then raises
    assert run.progress == run.progress_calls[-1].percent == 59
    assert run.result is None


def test_a_cancel_is_not_swallowed_by_except_exception() -> None:
    run = run_handler(Swallower, cancel_at_progress=2)
    assert run.status == RunStatus.CANCELLED
    assert len(run.progress_calls) == 2


def test_a_partial_result_given_with_the_cancel_is_kept() -> None:
    run = run_handler(Keeper, cancel_at_progress=3)
    assert run.status == RunStatus.CANCELLED
    assert run.result == {"done": [0, 1]}


def test_a_handler_that_returns_after_the_cancel_still_ends_cancelled_with_its_result() -> None:
    run = run_handler(Ignorer, cancel_at_progress=1)
    assert run.status == RunStatus.CANCELLED
    assert run.result == "finished anyway"
    assert run.error == "cancelled: the handler finished after the cancel was acknowledged"
    assert run.log_messages == [run.error]


def test_is_cancelled_turns_true_once_the_cancel_is_acknowledged() -> None:
    run = run_handler(Poller, cancel_at_progress=1)
    assert run.status == RunStatus.CANCELLED
    uncancelled = run_handler(Poller)
    assert uncancelled.result == [False]


def test_the_deadline_passing_at_a_report_fails_the_attempt_with_the_timeout() -> None:
    run = run_handler(Reporter, payload={"reports": [10, 20, 30, 40]}, timeout_seconds=30, timeout_at_progress=3)
    assert run.status == RunStatus.FAILED and run.will_retry
    assert isinstance(run.exception, JobTimedOut)
    assert run.error == "JobTimedOut: the attempt ran past its timeout of 30 s"
    assert [call.percent for call in run.progress_calls] == [10, 20]  # the late report is refused
    assert run.log_messages == [f"attempt 1 failed: {run.error}"]


def test_a_timeout_counts_on_the_injected_clock() -> None:
    in_time = ManualClock(T0)
    Slow.clock = in_time
    assert run_handler(Slow, payload={"item_s": 10}, timeout_seconds=40, clock=in_time).status == RunStatus.COMPLETED
    late = ManualClock(T0)
    Slow.clock = late
    run = run_handler(Slow, payload={"item_s": 10}, timeout_seconds=25, clock=late)
    assert run.status == RunStatus.FAILED and isinstance(run.exception, JobTimedOut)
    assert [call.percent for call in run.progress_calls] == [25, 50]  # the third report came at 30 s


def test_a_silent_handler_past_its_deadline_fails_even_if_it_returns() -> None:
    clock = ManualClock(T0)
    SilentSlow.clock = clock
    run = run_handler(SilentSlow, timeout_seconds=60, clock=clock)
    assert run.status == RunStatus.FAILED
    assert run.result is None and "timeout of 60 s" in (run.error or "")


def test_a_timed_out_attempt_on_its_last_try_does_not_retry() -> None:
    run = run_handler(
        Reporter, payload={"reports": [1]}, timeout_seconds=5, timeout_at_progress=1, attempt=4, max_retries=3
    )
    assert run.status == RunStatus.FAILED and not run.will_retry


def test_a_permanent_error_fails_without_retry_and_is_logged() -> None:
    run = run_handler(Misconfigured)
    assert run.status == RunStatus.FAILED and not run.will_retry
    assert run.error == "PermanentJobError: no API key set"
    assert run.log_messages == ["checking the configuration", "attempt 1 failed: PermanentJobError: no API key set"]


def test_an_ordinary_error_fails_the_attempt_and_retries_while_retries_are_left() -> None:
    assert run_handler(Broken).will_retry
    assert not run_handler(Broken, max_retries=0).will_retry


def test_a_result_over_the_limit_fails_the_job() -> None:
    run = run_handler(Huge)
    assert run.status == RunStatus.FAILED and not run.will_retry
    assert run.result is None and f"keeps at most {MAX_RESULT_BYTES} bytes of result" in (run.error or "")


def test_a_checkpoint_over_the_limit_fails_the_attempt() -> None:
    run = run_handler(BigCheckpoint)
    assert run.status == RunStatus.FAILED
    assert f"the limit is {MAX_CHECKPOINT_BYTES}" in (run.error or "")
    assert run.checkpoints == []


def test_the_invocation_ending_at_a_checkpoint_hands_over_and_the_next_run_resumes() -> None:
    first = run_handler(MyImportJob, payload={"count": 5}, continue_at_checkpoint=2)
    assert first.status == RunStatus.CONTINUED and first.result is None
    assert first.checkpoint == {"next": 2, "results": {"total": 5, "successful": 2, "failed": 0}}
    second = run_handler(MyImportJob, payload={"count": 5}, checkpoint=first.checkpoint)
    assert second.status == RunStatus.COMPLETED
    assert second.result == {"total": 5, "successful": 5, "failed": 0}
    assert second.log_messages == ["Resuming import from external-api at item 3/5"]
    assert second.progress_calls[0].message == "Importing: general item 2 (3/5)"


def test_the_first_of_a_cancel_and_a_hand_over_ends_the_run() -> None:
    # The import reports twice, then once per item before checkpointing that item.
    handed_over = run_handler(MyImportJob, payload={"count": 5}, cancel_at_progress=4, continue_at_checkpoint=1)
    assert handed_over.status == RunStatus.CONTINUED
    cancelled = run_handler(MyImportJob, payload={"count": 5}, cancel_at_progress=3, continue_at_checkpoint=1)
    assert cancelled.status == RunStatus.CANCELLED and cancelled.checkpoints == []


def test_timeout_at_progress_needs_the_jobs_timeout() -> None:
    with pytest.raises(TypeError):
        run_handler(Reporter, payload={"reports": [1]}, timeout_at_progress=1)
