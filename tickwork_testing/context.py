"""An in-memory ``JobRunContext``: what the worker's ``Attempt`` gives a handler, with no AWS.

It keeps every call instead of writing it, and plays the events a test asks for: a cancel
acknowledged at a given progress report, the attempt's deadline passing, the invocation ending.
The limits and texts are the worker's own (``chalicelib.jobs.attempt``), not copies.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import Clock
from chalicelib.jobs.attempt import check_checkpoint_size, clamp_progress, log_line, overrun_error
from chalicelib.jobs.signals import ContinueLater, JobCancelled


@dataclass(frozen=True)
class ProgressCall:
    """One ``update_progress`` call as the job would keep it (rounded, then clamped to 0..100)."""

    percent: int
    message: str | None


@dataclass(frozen=True)
class Simulation:
    """The events a run plays; counts are 1-based (``cancel_at_progress=1``: the first report)."""

    cancel_at_progress: int | None = None
    timeout_seconds: int | None = None
    timeout_at_progress: int | None = None
    continue_at_checkpoint: int | None = None


class InMemoryContext:
    """Implements ``JobRunContext`` for one attempt, recording instead of writing.

    Differences from the worker's, on purpose: every report and checkpoint is kept (the worker
    writes at most one per progress interval, the latest at a hand-over or the finish), and a
    simulated cancel is seen at once rather than at the next write.
    """

    def __init__(self, *, clock: Clock, max_log_lines: int, checkpoint: Any, simulation: Simulation) -> None:
        self._clock = clock
        self._simulation = simulation
        self.progress_calls: list[ProgressCall] = []
        self.checkpoints: list[Any] = []
        self.checkpoint_state: Any = checkpoint
        self._lines: deque[str] = deque(maxlen=max_log_lines)
        self.cancel_requested = False
        self.overran = False
        self._reports = 0
        self._checkpoint_calls = 0
        started = clock.now()
        timeout = simulation.timeout_seconds
        self._deadline: datetime | None = started + timedelta(seconds=timeout) if timeout else None

    @property
    def logs(self) -> list[str]:
        return list(self._lines)

    @property
    def progress(self) -> ProgressCall | None:
        return self.progress_calls[-1] if self.progress_calls else None

    # --- JobRunContext -----------------------------------------------------------------

    def report_progress(self, percent: int, message: str | None) -> None:
        self._reports += 1
        if self._reports == self._simulation.timeout_at_progress:
            self.overran = True
        self._check_deadline()
        self.progress_calls.append(ProgressCall(clamp_progress(percent), message))
        if self._reports == self._simulation.cancel_at_progress:
            self.cancel_requested = True
        if self.cancel_requested:
            raise JobCancelled()

    def log(self, message: str) -> None:
        self._lines.append(log_line(self._clock.now(), message))

    def is_cancelled(self) -> bool:
        self._check_deadline()
        return self.cancel_requested

    def checkpoint(self, state: Any) -> None:
        check_checkpoint_size(state)
        # Kept as the job keeps it, JSON: a handler that goes on changing the dict it passed
        # does not change what was saved.
        saved = json.loads(json.dumps(state))
        self.checkpoint_state = saved
        self._check_deadline()
        self._checkpoint_calls += 1
        self.checkpoints.append(saved)
        if self.cancel_requested:
            raise JobCancelled()
        if self._checkpoint_calls == self._simulation.continue_at_checkpoint:
            raise ContinueLater()

    # --- the deadline ------------------------------------------------------------------

    def deadline_passed(self) -> bool:
        """Whether the attempt ran past its timeout, told to the handler or not (the worker's
        heartbeat fails a silent handler at its deadline)."""
        if self._deadline is not None and self._clock.now() > self._deadline:
            self.overran = True
        return self.overran

    def overrun(self) -> Exception:
        return overrun_error(self._simulation.timeout_seconds)

    def _check_deadline(self) -> None:
        if self.deadline_passed():
            raise self.overrun()
