"""Job types that only tests register: they count executions and misbehave on demand."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from chalicelib import runtime
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.signals import JobCancelled

# Completed executions per job id: the "side effect" whose count must be exactly one.
completions: Counter[str] = Counter()
starts: Counter[str] = Counter()
_lock = threading.Lock()
# Set by tests to hold a handler inside execute() until released.
gates: dict[str, threading.Event] = {}
entered: dict[str, threading.Event] = {}


class Noop(BaseJobHandler):
    """Does nothing (registered by the plugin-discovery tests under names of their own)."""

    def execute(self) -> None:
        return None


class SimulatedCrash(BaseException):
    """Escapes every handler in the worker, as a killed process would leave the job."""


def _start(job_id: str) -> int:
    with _lock:
        starts[job_id] += 1
        return starts[job_id]


def _complete(job_id: str) -> None:
    with _lock:
        completions[job_id] += 1


class FlakyJob(BaseJobHandler):
    """Fails its first ``payload.failures`` attempts, then succeeds."""

    def execute(self) -> dict[str, Any]:
        attempt = _start(self.job.id)
        if attempt <= int(self.job.payload.get("failures", 0)):
            raise RuntimeError(f"planned failure {attempt}")
        _complete(self.job.id)
        return {"attempt": attempt}


class CrashOnceJob(BaseJobHandler):
    """Dies (as a process would) on its first attempt, completes on the next."""

    def execute(self) -> dict[str, Any]:
        attempt = _start(self.job.id)
        if attempt == 1:
            raise SimulatedCrash()
        _complete(self.job.id)
        return {"attempt": attempt}


class GatedJob(BaseJobHandler):
    """Waits inside execute() until the test opens its gate."""

    def execute(self) -> dict[str, Any]:
        _start(self.job.id)
        entered.setdefault(self.job.id, threading.Event()).set()
        gate = gates.setdefault(self.job.id, threading.Event())
        if not gate.wait(timeout=10):
            raise TimeoutError("gate never opened")
        _complete(self.job.id)
        return {"done": True}


class CancellableJob(BaseJobHandler):
    """Reports progress until cancelled, then hands back what it did so far."""

    def execute(self) -> dict[str, Any]:
        _start(self.job.id)
        done = 0
        gate = gates.setdefault(self.job.id, threading.Event())
        try:
            for step in range(1000):
                done = step
                self.update_progress(step // 10, f"step {step}")
                if step == 5:
                    entered.setdefault(self.job.id, threading.Event()).set()
                    gate.wait(timeout=10)  # the test cancels while we wait here
        except JobCancelled:
            raise JobCancelled(partial_result={"steps_done": done}) from None
        _complete(self.job.id)
        return {"steps_done": done}


class ProgressProbeJob(BaseJobHandler):
    """Reports progress and reads back what was stored after each report."""

    def execute(self) -> dict[str, Any]:
        clock = runtime.current().clock
        store = runtime.current().store
        seen = []
        for percent in (0, 30, 40):
            if percent == 40:
                clock.advance(1.0)  # type: ignore[attr-defined]
            self.update_progress(percent, f"at {percent}")
            stored = store.get(self.job.id)
            seen.append(stored.progress if stored else None)
        for n in range(5):
            self.log(f"line {n}")
        self.update_progress(100, "done")
        stored = store.get(self.job.id)
        seen.append(stored.progress if stored else None)
        return {"stored_after_each_report": seen}


TYPES = {
    "plugin:test-kit:flaky": FlakyJob,
    "plugin:test-kit:crash-once": CrashOnceJob,
    "plugin:test-kit:gated": GatedJob,
    "plugin:test-kit:cancellable": CancellableJob,
    "plugin:test-kit:progress-probe": ProgressProbeJob,
}
for name, handler in TYPES.items():
    runtime.registry.register(name, handler)


class OverrunJob(BaseJobHandler):
    """Reports progress while its (manual) clock runs past the job's timeout."""

    def execute(self) -> dict[str, Any]:
        _start(self.job.id)
        clock = runtime.current().clock
        for step in range(10):
            clock.advance(10)  # type: ignore[attr-defined]
            self.update_progress(step * 10, f"step {step}")
        _complete(self.job.id)
        return {"finished": True}


runtime.registry.register("plugin:test-kit:overrun", OverrunJob)


class SilentJob(BaseJobHandler):
    """Works without ever reporting progress, until its gate opens."""

    def execute(self) -> dict[str, Any]:
        _start(self.job.id)
        gates.setdefault(self.job.id, threading.Event()).wait(timeout=10)
        _complete(self.job.id)
        return {"finished": True}


runtime.registry.register("plugin:test-kit:silent", SilentJob)


# Set by a test: every job of type rendezvous waits here until all its parties arrive.
rendezvous: dict[str, threading.Barrier] = {}


class RendezvousJob(BaseJobHandler):
    """Completes only if ``payload.parties`` jobs of its group run at the same time."""

    def execute(self) -> dict[str, Any]:
        barrier = rendezvous[self.job.payload["group"]]
        # BrokenBarrierError (the job fails) if the others do not come in time.
        barrier.wait(timeout=float(self.job.payload.get("wait_s", 5)))
        return {"met": barrier.parties}


runtime.registry.register("plugin:test-kit:rendezvous", RendezvousJob)


# Set by a test: a hooked job calls its hook in the middle of execute() (to cancel it, say).
hooks: dict[str, Callable[[], None]] = {}


class HookedJob(BaseJobHandler):
    """Calls its test's hook, then raises (``payload.end == "raise"``) or returns.

    With ``payload.overrun_s`` its (manual) clock moves on that far and it reports progress once:
    past the job's timeout, that report fails the attempt. The result carries
    ``payload.result_bytes`` characters when asked: a result too large to store.
    """

    def execute(self) -> dict[str, Any]:
        _start(self.job.id)
        hooks.get(self.job.id, lambda: None)()
        if overrun_s := self.job.payload.get("overrun_s"):
            runtime.current().clock.advance(overrun_s)  # type: ignore[attr-defined]
            self.update_progress(50, "late")
        if self.job.payload.get("end") == "raise":
            raise RuntimeError("failed after the hook")
        _complete(self.job.id)
        return {"done": True, "blob": "r" * int(self.job.payload.get("result_bytes", 0))}


runtime.registry.register("plugin:test-kit:hooked", HookedJob)


class ChattyJob(BaseJobHandler):
    """Logs ``payload.lines`` lines an attempt, fails its first ``payload.failures`` attempts, and
    returns the size of the payload it was given (compact JSON)."""

    def execute(self) -> dict[str, Any]:
        attempt = _start(self.job.id)
        for n in range(int(self.job.payload.get("lines", 0))):
            self.log(f"attempt {attempt} line {n}")
        if attempt <= int(self.job.payload.get("failures", 0)):
            raise RuntimeError(f"planned failure {attempt}")
        _complete(self.job.id)
        return {"payload_bytes": len(json.dumps(self.job.payload, separators=(",", ":")))}


runtime.registry.register("plugin:test-kit:chatty", ChattyJob)
