"""The job and cron state machines, checked against a plain model of what each user was told.

Hypothesis drives the real code (the Chalice app, the worker Lambda handlers, the tick) on
in-process moto with one injected clock, which SQS's timers follow too: a message hidden for its
visibility timeout comes back when the model advances the clock, not after a real wait. Rules
schedule, cancel and retry jobs, create and change cron jobs, run worker steps and ticks (with
the process killed just before or just after any AWS call), deliver messages twice and move time.
After every step the invariants compare what the system did with what the API acknowledged.

The default profile runs a fixed set of examples in CI; ``--hypothesis-profile=deep`` runs
thousands (tests/conftest.py registers it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, multiple, rule

from chalicelib import runtime
from chalicelib.batches.model import BatchState, Callback, callback_id
from chalicelib.batches.store import batch_from_item
from chalicelib.clock import ManualClock, from_iso
from chalicelib.config import Settings
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.lifecycle import TERMINAL_STATUSES, JobStatus
from chalicelib.jobs.model import JobMessage, job_from_item
from chalicelib.jobs.store import JobFilter
from chalicelib.runtime import Runtime
from tests.conftest import SECRET, T0, built_stack, token
from tests.kit import sqs_follows

MODEL_TYPE = "plugin:model:work"
ADMIN = token("admin", sub="model-admin")
OWNER = token("store_owner", stores=["store-a"], sub="model-owner")
BEHAVIOURS = ("ok", "fail_once", "fail_always", "crash_once", "slow", "cancel_then_fail", "cancel_then_return")
EXPRESSIONS = ("* * * * *", "*/2 * * * *", "*/5 * * * *", "0 * * * *")
DEEP = settings.default.max_examples >= 500


class ProcessKilled(BaseException):
    """Escapes every layer, as a killed process leaves its work: nothing recorded, nothing acked."""


@dataclass
class Start:
    job_id: str
    at: datetime
    due_at: str
    cron_job_id: str | None
    slot: str | None  # a scheduled slot's time; None for a run-now or a background job
    store_id: str | None = None
    seq: int = 0  # when, in the order of events (the clock may not move between two of them)
    start_by: str | None = None  # its start deadline, if it has one


@dataclass
class World:
    """What the model knows: what users were told, and what the handler saw."""

    starts: list[Start] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    cancel_acknowledged: set[str] = field(default_factory=set)
    completed_at: dict[str, str] = field(default_factory=dict)
    paused_since: dict[str, tuple[datetime, int]] = field(default_factory=dict)  # (clock, event number)
    deleted_at: dict[str, int] = field(default_factory=dict)  # cron id -> event number of the delete
    # store-a's pauses, as event numbers: [paused at, resumed at (None: still paused)]
    store_pauses: list[list[int | None]] = field(default_factory=list)
    events: itertools.count[int] = field(default_factory=itertools.count)
    jobs: set[str] = field(default_factory=set)
    crons: set[str] = field(default_factory=set)
    server_errors: list[str] = field(default_factory=list)
    batches: set[str] = field(default_factory=set)
    cancel_midway: Any = None  # the machine's cancel, for handlers that cancel themselves
    # Windows (jobs/windows.py): each debounce key's current job and the last payload given to
    # each debounce job; each dedup key's job and when its window ends; what callers were told amiss.
    debounce_job: dict[str, str] = field(default_factory=dict)
    last_given: dict[str, int] = field(default_factory=dict)
    ran_with: dict[str, int] = field(default_factory=dict)  # the payload's n each debounced job last started with
    dedup_window: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    window_errors: list[str] = field(default_factory=list)


WORLD = World()


class ModelWork(BaseJobHandler):
    """Behaves as its payload says, and tells the model when it started."""

    def execute(self) -> dict[str, Any]:
        now = runtime.current().clock.now()
        slot = self.job.cron_slot
        WORLD.starts.append(
            Start(
                self.job.id,
                now,
                self.job.due_at,
                self.job.cron_job_id,
                slot,
                self.job.store_id,
                next(WORLD.events),
                self.job.start_by,
            )
        )
        WORLD.attempts[self.job.id] += 1
        if "n" in self.job.payload:
            WORLD.ran_with[self.job.id] = self.job.payload["n"]
        attempt = WORLD.attempts[self.job.id]
        self.log(f"attempt {attempt} started")  # the log item's writes race like the job's
        behaviour = self.job.payload.get("behaviour", "ok")
        if behaviour == "fail_always" or (behaviour == "fail_once" and attempt == 1):
            raise RuntimeError(f"planned failure on attempt {attempt}")
        if behaviour == "crash_once" and attempt == 1:
            raise ProcessKilled()
        if behaviour == "slow":
            runtime.current().clock.sleep(20)
            self.update_progress(50, "half way")
        if behaviour.startswith("cancel_then") and attempt == 1:
            WORLD.cancel_midway(self.job.id)
            if behaviour == "cancel_then_fail":
                raise RuntimeError("failed after the cancel")
        return {"attempt": attempt}


runtime.registry.register(MODEL_TYPE, ModelWork)


def model_settings() -> Settings:
    return Settings(
        jobs_table="tickwork-jobs",
        queue_prefix="tickwork-",
        backoff_s=(5, 30),
        lease_s=30,
        progress_interval_s=1.0,
        jwt_secret=SECRET,
        run_after_poll_s=10,
    )


class Crash:
    """Kills the process at the ``index``-th AWS call a step makes, just before or just after it."""

    def __init__(self, index: int, after: bool) -> None:
        self.index, self.after, self.calls = index, after, 0

    def before(self, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.index and not self.after:
            raise ProcessKilled()

    def after_call(self, **_: Any) -> None:
        if self.calls == self.index and self.after:
            raise ProcessKilled()


crashes = st.none() | st.builds(Crash, st.integers(1, 8), st.booleans())


class JobsAndCrons(RuleBasedStateMachine):
    jobs = Bundle("jobs")
    crons = Bundle("crons")
    batches = Bundle("batches")

    def __init__(self) -> None:
        super().__init__()
        global WORLD
        WORLD = World()
        WORLD.cancel_midway = self._cancel_from_inside
        self._exit = contextlib.ExitStack()
        self.clock = ManualClock(T0)
        self.settings = model_settings()
        self.stack = self._exit.enter_context(built_stack(self.settings, self.clock, clocked_pollers=True))
        # SQS's timers (visibility, delays, retention) follow the injected clock, and so does the
        # pollers' queue aging: an example replays the same way however fast the machine is.
        self._exit.enter_context(sqs_follows(self.clock))

    def teardown(self) -> None:
        try:
            self._quiesce_and_check()
        finally:
            self._exit.close()

    # --- the API, as users call it --------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, tok: str = ADMIN) -> Any:
        headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        raw = json.dumps(body).encode() if body is not None else b""
        response = self.stack.client.http.request(method, path, headers=headers, body=raw)
        if response.status_code >= 500:
            WORLD.server_errors.append(f"{method} {path} -> {response.status_code}: {response.body[:300]!r}")
        return response

    def _cancel_from_inside(self, job_id: str) -> None:
        answer = self.api("POST", f"/api/background-jobs/{job_id}/cancel")
        if answer.status_code == 200 and answer.json_body["job"]["status"] in ("cancelling", "cancelled"):
            WORLD.cancel_acknowledged.add(job_id)

    # --- rules: background jobs -----------------------------------------------------------

    @initialize(target=crons)
    def declared_by_plugins(self) -> Any:
        """The plugins' declared cron jobs (platform-wide, admin rights) take part like any other."""
        self.stack.runtime.tick.ensure_declared()
        listed = self.api("GET", "/api/cron-jobs?store_id=platform").json_body["jobs"]
        declared = [cron["id"] for cron in listed if cron.get("declared_by")]
        assert declared
        WORLD.crons.update(declared)
        return multiple(*declared)

    @rule(
        target=jobs,
        behaviour=st.sampled_from(BEHAVIOURS),
        owner=st.booleans(),
        retries=st.integers(0, 2),
        large=st.booleans(),
    )
    def schedule(self, behaviour: str, owner: bool, retries: int, large: bool) -> str:
        # A large payload lives in S3: its writes and reads are among the calls a crash can hit.
        payload = {"behaviour": behaviour, **({"pad": "p" * 2_000} if large else {})}
        body = {"type": MODEL_TYPE, "storeId": "store-a", "payload": payload, "maxRetries": retries}
        answer = self.api("POST", "/api/background-jobs/schedule", body, OWNER if owner else ADMIN)
        assert answer.status_code == 201, answer.json_body
        job_id = str(answer.json_body["job"]["id"])
        WORLD.jobs.add(job_id)
        return job_id

    @rule(target=jobs, key=st.sampled_from(["k1", "k2"]), behaviour=st.sampled_from(["ok", "fail_once", "slow"]))
    def schedule_debounced(self, key: str, behaviour: str) -> str:
        """A burst's member: collapses into its key's pending job, or opens the next window."""
        n = next(WORLD.events)
        body = {
            "type": MODEL_TYPE,
            "storeId": "store-a",
            "payload": {"behaviour": behaviour, "n": n},
            "debounce": {"key": key, "seconds": 5, "max_wait_seconds": 20},
        }
        answer = self.api("POST", "/api/background-jobs/schedule", body)
        assert answer.status_code in (200, 201), answer.json_body
        job_id = str(answer.json_body["job"]["id"])
        current = WORLD.debounce_job.get(key)
        if answer.status_code == 201:
            before = self.stack.runtime.store.get(current) if current else None
            if before is not None and before.status == JobStatus.PENDING and before.started_at is None:
                WORLD.window_errors.append(f"{key}: {job_id} opened while {current} had not started")
            WORLD.debounce_job[key] = job_id
        elif job_id != current or not answer.json_body["debounced"]:
            WORLD.window_errors.append(f"{key}: a caller was told {job_id}, the window's job is {current}")
        elif answer.json_body["job"]["started_at"] is not None or job_id in WORLD.ran_with:
            WORLD.window_errors.append(f"{key}: a caller was told {job_id}, which had already started")
        WORLD.last_given[job_id] = n
        WORLD.jobs.add(job_id)
        return job_id

    @rule(target=jobs, key=st.sampled_from(["d1", "d2"]), seconds=st.sampled_from([30, 300]))
    def schedule_deduplicated(self, key: str, seconds: int) -> str:
        """Within its window, every schedule of a key is answered with the window's first job."""
        body = {
            "type": MODEL_TYPE,
            "storeId": "store-a",
            "payload": {"behaviour": "ok"},
            "dedup": {"key": key, "seconds": seconds},
        }
        answer = self.api("POST", "/api/background-jobs/schedule", body)
        assert answer.status_code in (200, 201), answer.json_body
        job_id = str(answer.json_body["job"]["id"])
        now = self.clock.now()
        window = WORLD.dedup_window.get(key)
        open_now = window is not None and now < window[1]
        if answer.status_code == 201:
            if open_now:
                WORLD.window_errors.append(f"{key}: {job_id} created inside the window of {window}")
            WORLD.dedup_window[key] = (
                job_id,
                from_iso(answer.json_body["job"]["created_at"]) + timedelta(seconds=seconds),
            )
        elif not open_now or window is None or window[0] != job_id:
            WORLD.window_errors.append(f"{key}: a caller was told {job_id} outside the window {window}")
        WORLD.jobs.add(job_id)
        return job_id

    @rule(target=jobs, behaviour=st.sampled_from(["ok", "fail_always"]), seconds=st.sampled_from([3, 30, 120]))
    def schedule_expiring(self, behaviour: str, seconds: int) -> str:
        """A job that may only start within ``seconds`` of its schedule (a retry after that expires)."""
        body = {
            "type": MODEL_TYPE,
            "storeId": "store-a",
            "payload": {"behaviour": behaviour},
            "maxRetries": 2,
            "expire_after_seconds": seconds,
        }
        answer = self.api("POST", "/api/background-jobs/schedule", body)
        assert answer.status_code == 201, answer.json_body
        job_id = str(answer.json_body["job"]["id"])
        WORLD.jobs.add(job_id)
        return job_id

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        self._cancel_from_inside(job_id)

    @rule(job_id=jobs)
    def retry(self, job_id: str) -> None:
        answer = self.api("POST", f"/api/background-jobs/{job_id}/retry")
        if answer.status_code == 202:
            WORLD.cancel_acknowledged.discard(job_id)
            WORLD.completed_at.pop(job_id, None)

    @rule(cap=st.sampled_from([0, 1, 2, None]))
    def set_store_cap(self, cap: int | None) -> None:
        """An admin changes how many jobs store-a may run at once (0: none until raised)."""
        answer = self.api("PUT", "/api/admin/stores/store-a/limits", {"max_running": cap})
        assert answer.status_code == 200, answer.json_body

    @rule(action=st.sampled_from(["pause", "resume"]))
    def pause_store(self, action: str) -> None:
        """An admin suspends store-a, or lets it run again."""
        answer = self.api("POST", f"/api/admin/stores/store-a/{action}", {})
        assert answer.status_code == 200, answer.json_body
        self._note_pause(answer.json_body["limits"]["paused"])

    def _note_pause(self, paused: bool) -> None:
        current = WORLD.store_pauses[-1] if WORLD.store_pauses and WORLD.store_pauses[-1][1] is None else None
        if paused and current is None:
            WORLD.store_pauses.append([next(WORLD.events), None])
        elif not paused and current is not None:
            current[1] = next(WORLD.events)

    @rule(job_id=jobs)
    def deliver_twice(self, job_id: str) -> None:
        """A second message naming only the job (as sent before messages named their store): the
        gate reads its job's store, so a paused store's job waits all the same."""
        job = self.stack.runtime.store.get(job_id)
        if job is not None:
            self.stack.runtime.queues.send(job.priority, JobMessage(job_id=job_id), delay_s=0)

    # --- rules: batches -------------------------------------------------------------------

    @rule(
        target=batches,
        behaviours=st.lists(st.sampled_from(BEHAVIOURS), min_size=1, max_size=4),
        owner=st.booleans(),
        crash=crashes,
    )
    def create_batch(self, behaviours: list[str], owner: bool, crash: Crash | None) -> Any:
        """A batch of model jobs with both callbacks; the API may die at any of its AWS calls."""
        body = {
            "store_id": "store-a",
            "jobs": [{"type": MODEL_TYPE, "payload": {"behaviour": b}, "max_retries": 1} for b in behaviours],
            "on_complete": {"type": MODEL_TYPE, "payload": {"behaviour": "ok"}},
            "on_success": {"type": MODEL_TYPE, "payload": {"behaviour": "ok"}},
        }
        answers: list[Any] = []
        self._with_crash(
            crash,
            lambda: answers.append(self.api("POST", "/api/background-jobs/batches", body, OWNER if owner else ADMIN)),
        )
        if not answers:
            return multiple()  # died before answering: the sweep settles what it stored
        assert answers[0].status_code == 201, answers[0].json_body
        batch_id = str(answers[0].json_body["batch"]["id"])
        WORLD.batches.add(batch_id)
        return batch_id

    @rule(batch_id=batches)
    def cancel_batch(self, batch_id: str) -> None:
        answer = self.api("POST", f"/api/background-jobs/batches/{batch_id}/cancel", {})
        assert answer.status_code in (200, 409), answer.json_body
        if answer.status_code == 200:
            for child in self._children(batch_id):
                if child.status in (JobStatus.CANCELLED, JobStatus.CANCELLING):
                    WORLD.cancel_acknowledged.add(child.id)

    @rule(batch_id=batches, n=st.integers(0, 3), twice=st.booleans())
    def touch_child(self, batch_id: str, n: int, twice: bool) -> None:
        """Cancel one child (its siblings go on), or deliver its message a second time."""
        children = sorted(self._children(batch_id), key=lambda job: job.id)
        if not children:
            return
        child = children[n % len(children)]
        if twice:
            self.stack.runtime.queues.send(child.priority, JobMessage(job_id=child.id), delay_s=0)
        else:
            self._cancel_from_inside(child.id)

    # --- rules: the worker, the tick, time ------------------------------------------------

    @rule(crash=crashes)
    def worker_step(self, crash: Crash | None) -> None:
        self._with_crash(crash, self.stack.poller.poll_once)

    @rule(crash=crashes)
    def tick(self, crash: Crash | None) -> None:
        now = self.clock.now()
        minute = now.replace(second=0, microsecond=0)
        self._with_crash(crash, lambda: self.stack.runtime.tick.run_tick(minute))

    @rule(seconds=st.sampled_from([1, 5, 20, 31, 61, 301]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # --- rules: cron jobs -----------------------------------------------------------------

    @rule(target=crons, expression=st.sampled_from(EXPRESSIONS), behaviour=st.sampled_from(BEHAVIOURS[:4]))
    def create_cron(self, expression: str, behaviour: str) -> str:
        body = {
            "name": "model",
            "cron_expression": expression,
            "job_type": MODEL_TYPE,
            "store_id": "store-a",
            "configuration": {"behaviour": behaviour},
            "misfire_policy": "run_all",
            "overlap_policy": "allow",
        }
        answer = self.api("POST", "/api/cron-jobs", body, OWNER)
        assert answer.status_code == 201, answer.json_body
        cron_id = str(answer.json_body["job"]["id"])
        WORLD.crons.add(cron_id)
        return cron_id

    @rule(cron_id=crons, expression=st.sampled_from(EXPRESSIONS), admin=st.booleans())
    def patch_schedule(self, cron_id: str, expression: str, admin: bool) -> None:
        self.api("PATCH", f"/api/cron-jobs/{cron_id}", {"cron_expression": expression}, ADMIN if admin else OWNER)

    @rule(cron_id=crons, action=st.sampled_from(["pause", "resume", "toggle"]), admin=st.booleans())
    def set_active(self, cron_id: str, action: str, admin: bool) -> None:
        answer = self.api("POST", f"/api/cron-jobs/{cron_id}/{action}", {}, ADMIN if admin else OWNER)
        if answer.status_code == 200:
            if answer.json_body["job"]["is_active"]:
                WORLD.paused_since.pop(cron_id, None)
            else:
                WORLD.paused_since.setdefault(cron_id, (self.clock.now(), next(WORLD.events)))

    @rule(cron_id=crons, admin=st.booleans())
    def run_now(self, cron_id: str, admin: bool) -> None:
        answer = self.api("POST", f"/api/cron-jobs/{cron_id}/run", {}, ADMIN if admin else OWNER)
        if answer.status_code == 202:
            WORLD.jobs.add(answer.json_body["execution"]["id"])

    @rule(cron_id=consumes(crons), admin=st.booleans())
    def delete_cron(self, cron_id: str, admin: bool) -> None:
        if self.api("DELETE", f"/api/cron-jobs/{cron_id}", None, ADMIN if admin else OWNER).status_code == 200:
            WORLD.deleted_at[cron_id] = next(WORLD.events)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def no_answer_is_a_5xx(self) -> None:
        assert not WORLD.server_errors, WORLD.server_errors

    @invariant()
    def no_run_starts_before_it_is_due(self) -> None:
        early = [s for s in WORLD.starts if s.at < from_iso(s.due_at)]
        assert not early, early

    @invariant()
    def no_run_starts_after_its_deadline(self) -> None:
        late = [s for s in WORLD.starts if s.start_by is not None and s.at >= from_iso(s.start_by)]
        assert not late, late

    @invariant()
    def every_caller_of_a_window_was_told_its_one_job(self) -> None:
        assert not WORLD.window_errors, WORLD.window_errors

    @invariant()
    def a_paused_or_deleted_cron_job_starts_no_run_for_a_later_slot(self) -> None:
        for start in WORLD.starts:
            if start.cron_job_id is None or start.slot is None:
                continue
            deleted = WORLD.deleted_at.get(start.cron_job_id)
            if deleted is not None and start.seq > deleted:
                raise AssertionError(f"slot {start.slot} of deleted cron {start.cron_job_id} ran at {start.at}")
            paused, paused_seq = WORLD.paused_since.get(start.cron_job_id, (None, 0))
            if paused is not None and from_iso(start.slot) > paused and start.seq > paused_seq:
                raise AssertionError(f"slot {start.slot} of paused cron {start.cron_job_id} ran at {start.at}")

    @invariant()
    def no_job_of_a_paused_store_starts_while_it_is_paused(self) -> None:
        for start in WORLD.starts:
            if start.store_id != "store-a":
                continue
            for paused, resumed in WORLD.store_pauses:
                assert not (paused < start.seq and (resumed is None or start.seq < resumed)), (
                    f"{start.job_id} of store-a started at {start.at} while the store was paused"
                )

    @invariant()
    def the_stored_jobs_agree_with_what_users_were_told(self) -> None:
        jobs = self._jobs()  # one read serves every check of the step
        self.completed_stays_completed_and_an_acknowledged_cancel_never_completes(jobs)
        self.each_cron_slot_has_at_most_one_job(jobs)
        self.each_debounce_key_has_at_most_one_job_waiting(jobs)

    def completed_stays_completed_and_an_acknowledged_cancel_never_completes(self, jobs: dict[str, Any]) -> None:
        for job_id, job in jobs.items():
            if job.status == JobStatus.COMPLETED:
                assert job_id not in WORLD.cancel_acknowledged, f"{job_id}: cancel was acknowledged, job completed"
                first = WORLD.completed_at.setdefault(job_id, job.completed_at or "")
                assert job.completed_at == first, f"{job_id} completed twice ({first}, {job.completed_at})"
            elif job_id in WORLD.completed_at:
                raise AssertionError(f"{job_id} was completed and is now {job.status.value}")

    def each_debounce_key_has_at_most_one_job_waiting(self, jobs: dict[str, Any]) -> None:
        """One run per window: a key never has two jobs that are pending and have not started. A
        job a user retried runs again on its own, outside the window that has moved on."""
        waiting = Counter(
            job.debounce_key
            for job in jobs.values()
            if job.debounce_key
            and job.status == JobStatus.PENDING
            and job.started_at is None
            and not any(entry.action == "retried" for entry in job.audit)
        )
        assert all(count == 1 for count in waiting.values()), waiting

    def each_cron_slot_has_at_most_one_job(self, jobs: dict[str, Any]) -> None:
        slots = Counter((job.cron_job_id, job.cron_slot) for job in jobs.values() if job.cron_job_id and job.cron_slot)
        assert all(count == 1 for count in slots.values()), slots

    # --- quiescence -----------------------------------------------------------------------

    @invariant()
    def each_batch_counts_its_counted_children_and_calls_back_only_when_due(self) -> None:
        jobs = self._jobs()
        for batch in self._batches():
            children = [job for job in jobs.values() if job.batch_id == batch.id]
            counted = Counter(job.status for job in children if job.batch_counted)
            assert (batch.completed, batch.failed, batch.cancelled, batch.expired) == (
                counted[JobStatus.COMPLETED],
                counted[JobStatus.FAILED],
                counted[JobStatus.CANCELLED],
                counted[JobStatus.EXPIRED],
            ), (batch, counted)
            on_complete = jobs.get(callback_id(batch.id, Callback.ON_COMPLETE))
            on_success = jobs.get(callback_id(batch.id, Callback.ON_SUCCESS))
            if on_complete is not None or on_success is not None:
                assert batch.is_final and all(job.status in TERMINAL_STATUSES for job in children), batch
            if on_success is not None:
                assert batch.state == BatchState.SUCCEEDED, batch
                assert all(job.status == JobStatus.COMPLETED for job in children), batch

    @invariant()
    def no_store_holds_fewer_than_no_slots(self) -> None:
        for item in self._store_items():
            assert int(item.get("running", 0)) >= 0, item  # a slot given back twice

    def _store_items(self) -> list[dict[str, Any]]:
        table = self.stack.runtime.store._table
        return table.scan(ConsistentRead=True, FilterExpression=Attr("id").begins_with("store#"))["Items"]

    def _quiesce_and_check(self) -> None:
        """Pause every cron job, then let time, ticks and workers run until nothing moves."""
        self.api("PUT", "/api/admin/stores/store-a/limits", {"max_running": None})
        self._note_pause(self.api("POST", "/api/admin/stores/store-a/resume", {}).json_body["limits"]["paused"])
        for cron_id in WORLD.crons - WORLD.deleted_at.keys():
            answer = self.api("POST", f"/api/cron-jobs/{cron_id}/pause", {}, ADMIN)
            if answer.status_code == 200:
                WORLD.paused_since.setdefault(cron_id, (self.clock.now(), next(WORLD.events)))
        for _ in range(12):
            batches_done = all(batch.is_final and batch.callbacks_sent for batch in self._batches())
            if batches_done and all(job.status in TERMINAL_STATUSES for job in self._jobs().values()):
                break
            self.clock.advance(301)
            minute = self.clock.now().replace(second=0, microsecond=0)
            self._with_crash(None, lambda at=minute: self.stack.runtime.tick.run_tick(at))
            for _ in range(20):  # a handler that kills its process ends a drain early: drain again
                if self._with_crash(None, self.stack.poller.drain):
                    break
        self.no_answer_is_a_5xx()
        jobs = self._jobs()
        self.completed_stays_completed_and_an_acknowledged_cancel_never_completes(jobs)
        stuck = {i: j.status.value for i, j in jobs.items() if j.status not in TERMINAL_STATUSES}
        assert not stuck, f"jobs that never finished: {stuck}"
        for cron_id in WORLD.crons - WORLD.deleted_at.keys():
            self._counters_match_executions(cron_id)
        self._log_lines_follow_the_attempts(jobs)
        self._every_slot_is_given_back_or_lapsed()
        self._windows_ran_their_latest_payload(jobs)
        self._every_batch_ended_and_called_back_once(jobs)
        self._the_listing_and_each_view_agree_with_the_batches()

    def _windows_ran_their_latest_payload(self, jobs: dict[str, Any]) -> None:
        """A debounce window's run had the last payload any of its callers gave; an expired job never started."""
        store = self.stack.runtime.store
        for job_id, job in jobs.items():
            if job.debounce_key and job.status == JobStatus.COMPLETED:
                assert store.shown([job])[0].payload["n"] == WORLD.last_given[job_id], (job_id, job.payload)
                assert WORLD.ran_with[job_id] == WORLD.last_given[job_id], (job_id, WORLD.ran_with[job_id])
            if job.status == JobStatus.EXPIRED:
                assert job.start_by is not None, job

    def _every_batch_ended_and_called_back_once(self, jobs: dict[str, Any]) -> None:
        """Counts match the children's statuses; on_complete ran (completed, once) iff every child
        ended, on_success iff every child it was asked for completed."""
        for batch in self._batches():
            children = [job for job in jobs.values() if job.batch_id == batch.id]
            statuses = Counter(job.status for job in children)
            assert batch.total == len(children), (batch, len(children))
            assert (batch.completed, batch.failed, batch.cancelled, batch.expired) == (
                statuses[JobStatus.COMPLETED],
                statuses[JobStatus.FAILED],
                statuses[JobStatus.CANCELLED],
                statuses[JobStatus.EXPIRED],
            ), (batch, statuses)
            assert batch.is_final and batch.callbacks_sent, batch
            on_complete = jobs.get(callback_id(batch.id, Callback.ON_COMPLETE))
            assert on_complete is not None and on_complete.status == JobStatus.COMPLETED, (batch, on_complete)
            all_completed = batch.note is None and statuses[JobStatus.COMPLETED] == len(children)
            on_success = jobs.get(callback_id(batch.id, Callback.ON_SUCCESS))
            assert (batch.state == BatchState.SUCCEEDED) == all_completed, (batch, statuses)
            if all_completed:
                assert on_success is not None and on_success.status == JobStatus.COMPLETED, (batch, on_success)
            else:
                assert on_success is None, batch

    def _the_listing_and_each_view_agree_with_the_batches(self) -> None:
        """The store's listing, page by page, holds every batch once, newest first, as stored; each
        batch's view shows on_complete run and on_success run or skipped as its end decided."""
        stored = {batch.id: batch for batch in self._batches()}
        listed: list[dict[str, Any]] = []
        next_token = ""
        while True:
            page = self.api("GET", f"/api/background-jobs/batches?store_id=store-a&limit=2&next_token={next_token}")
            assert page.status_code == 200, page.json_body
            listed += page.json_body["batches"]
            next_token = page.json_body["next_token"]
            if not next_token:
                break
        assert sorted(row["id"] for row in listed) == sorted(stored), (listed, stored)
        created = [row["created_at"] for row in listed]
        assert created == sorted(created, reverse=True), created
        for row in listed:
            batch = stored[row["id"]]
            assert (row["status"], row["total"], row["completed"], row["failed"], row["cancelled"]) == (
                batch.state.value,
                batch.total,
                batch.completed,
                batch.failed,
                batch.cancelled,
            ), (row, batch)
            view = self.api("GET", f"/api/background-jobs/batches/{batch.id}").json_body["batch"]
            callbacks = {callback["name"]: callback for callback in view["callbacks"]}
            assert (callbacks["on_complete"]["state"], callbacks["on_complete"]["job_status"]) == (
                "queued",
                "completed",
            )
            ran = batch.state == BatchState.SUCCEEDED
            assert callbacks["on_success"]["state"] == ("queued" if ran else "skipped"), (batch, callbacks)

    def _every_slot_is_given_back_or_lapsed(self) -> None:
        """Nothing runs now: what a store still counts is held by workers that died (and lapses)."""
        now_s = self.clock.now().timestamp()
        for item in self._store_items():
            held = sum(int(v["n"]) for k, v in item.items() if k.startswith("h#"))
            assert int(item.get("running", 0)) == held, item
            live = [k for k, v in item.items() if k.startswith("h#") and float(v["until"]) >= now_s]
            assert not live, f"slots still held by a live holder after quiescence: {item}"

    def _log_lines_follow_the_attempts(self, jobs: dict[str, Any]) -> None:
        """Each job reads back whole (its payload from S3), and its lines are its attempts' in order:
        a worker that lost its lease never overwrote a later attempt's lines. A completed job's last
        line is the completing attempt's: its finish wrote its lines first."""
        store = self.stack.runtime.store
        for job_id, job in jobs.items():
            shown = store.shown([job], with_logs=True)[0]
            if job.type != MODEL_TYPE:
                continue  # the plugins' declared cron jobs
            assert "behaviour" in shown.payload, (job_id, shown.payload)
            started = [
                int(line.split()[2]) for line in shown.logs if line.split()[1:2] == ["attempt"] and "started" in line
            ]
            assert started == sorted(set(started)), (job_id, shown.logs)
            if job.status == JobStatus.COMPLETED:
                assert started and started[-1] == job.result["attempt"], (job_id, shown.logs, job.result)

    def _counters_match_executions(self, cron_id: str) -> None:
        cron = self.stack.runtime.cron_store.get(cron_id)
        assert cron is not None
        runs = self.stack.runtime.store.list(JobFilter(cron_job_id=cron_id), limit=100, next_token=None).jobs
        outcomes = Counter(job.status for job in runs)
        assert cron.success_count == outcomes[JobStatus.COMPLETED], (cron.success_count, outcomes)
        assert cron.failure_count == outcomes[JobStatus.FAILED], (cron.failure_count, outcomes)

    # --- helpers --------------------------------------------------------------------------

    def _jobs(self) -> dict[str, Any]:
        """Every job in the table, read in one scan (the table holds only this example's world)."""
        table = self.stack.runtime.store._table
        items = table.scan(ConsistentRead=True, FilterExpression=Attr("type").exists())["Items"]
        jobs = {item["id"]: job_from_item(item) for item in items}
        WORLD.jobs.update(jobs)
        return jobs

    def _batches(self) -> list[Any]:
        table = self.stack.runtime.store._table
        items = table.scan(ConsistentRead=True, FilterExpression=Attr("kind").eq("batch"))["Items"]
        return [batch_from_item(item) for item in items]

    def _children(self, batch_id: str) -> list[Any]:
        return [job for job in self._jobs().values() if job.batch_id == batch_id]

    def _with_crash(self, crash: Crash | None, step: Any) -> bool:
        """Run ``step``, killed as ``crash`` says; False if the process died (it is restarted)."""
        clients = self._clients()
        if crash is not None:
            for client in clients:
                client.meta.events.register("before-call.*.*", crash.before)
                client.meta.events.register("after-call.*.*", crash.after_call)
        try:
            step()
            return True
        except ProcessKilled:
            self._restart()
            return False
        finally:
            if crash is not None:
                for client in clients:
                    client.meta.events.unregister("before-call.*.*", crash.before)
                    client.meta.events.unregister("after-call.*.*", crash.after_call)

    def _clients(self) -> list[Any]:
        rt = self.stack.runtime
        return [
            rt.store._table.meta.client,
            rt.job_values._objects._client,
            rt.cron_store._table.meta.client,
            rt.queues._client,
            self.stack.poller._sqs,
        ]

    def _restart(self) -> None:
        """A killed process comes back as a fresh one: nothing it held in memory survives."""
        fresh = Runtime(settings=self.settings, clock=self.clock, session=self.stack.session)
        runtime.use(fresh)
        self.stack.runtime = fresh


JobsAndCrons.TestCase.settings = settings(
    settings.default,
    max_examples=settings.default.max_examples if DEEP else 40,
    stateful_step_count=60 if DEEP else 40,
    deadline=None,
    derandomize=not DEEP,
    # In CI a failure is reported as found: shrinking it can take minutes. The deep profile shrinks.
    phases=list(Phase) if DEEP else [Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestJobsAndCrons = JobsAndCrons.TestCase
