"""Kill a process at each AWS call of a scenario, restart, drive to quiescence, report what happened.

A "process" (the API, a worker, the tick) is a boto3 session of its own with a Runtime over the
same moto state. Every AWS call any of them makes passes botocore's ``before-call`` and
``after-call`` events on the real client; crash point (k, before|after) raises SimulatedCrash
there at the k-th call of the scenario, which escapes the process like a SIGKILL (nothing caught,
nothing recorded). That process is then dead: any further call it makes (a thread of it) dies too.
Restart is a fresh Runtime per role over the same tables and queues; in-flight messages are made
visible again (moto's SQS visibility runs on real time: this stands for the timeout passing) and
the ManualClock moves past leases and the tick sweeps' bounds.

Run ``python -m tests.faults.crash_points`` to print docs/crash-points.md's table.
"""

from __future__ import annotations

import os

# Before app.py is imported (it reads the environment), for ``python -m`` as for pytest.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_ENDPOINT_URL", None)

import contextlib
import dataclasses
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
import botocore.session
from botocore.exceptions import ClientError
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib import runtime
from chalicelib.auth import Role, mint_token
from chalicelib.aws.provision import provision
from chalicelib.batches.model import BatchState, Callback, callback_id
from chalicelib.batches.store import batch_from_item
from chalicelib.clock import ManualClock
from chalicelib.config import Settings, queue_name
from chalicelib.crons.tick import LOST_LEASE_GRACE_S
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, JobStatus, is_terminal
from chalicelib.jobs.model import Job
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.jobs.store import job_from_item
from chalicelib.runtime import Runtime
from devstack.pollers import LambdaContext, sqs_event
from tests.faults.kit import SimulatedCrash
from tests.kit import sqs_follows

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
REGION = "us-east-1"
START = datetime(2026, 11, 28, 11, 55, tzinfo=UTC)  # the cron's first slot is 12:00
SLOT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
JOB_TYPE = "plugin:crash-kit:effect"
QUIESCE_ROUNDS = 4
WHENS = ("before", "after")


class EffectJob(BaseJobHandler):
    """Reports progress, then applies one side effect through an idempotent external system.

    Payload: ``fail_first`` (the first run fails for good), ``cancel_inside`` (the first run has
    the API cancel it mid-run, then reports progress again and so learns of the cancel), ``log``
    (it logs a line: the log item is written), ``result_bytes`` (a result that large: past the
    item's inline limit, it goes to S3).
    """

    def execute(self) -> dict[str, Any]:
        world = World.current
        assert world is not None
        world.runs[self.job.id] += 1
        run = world.runs[self.job.id]
        if self.job.payload.get("log"):
            self.log(f"run {run}")
        self.update_progress(50, "half way")
        if self.job.payload.get("cancel_inside") and run == 1:
            world.cancel(self.job.id)
            self.update_progress(60, "after the cancel")
        if self.job.payload.get("fail_first") and run == 1:
            raise PermanentJobError("planned failure")
        world.apply_effect(self.idempotency_key, self.job.id)
        return {
            "run": run,
            **({"blob": "r" * self.job.payload["result_bytes"]} if "result_bytes" in self.job.payload else {}),
        }


if JOB_TYPE not in {t.name for t in runtime.registry.all()}:
    runtime.registry.register(JOB_TYPE, EffectJob)


_BASE = botocore.session.get_session()


def new_session() -> boto3.session.Session:
    """A session of its own (its own events, clients, caches), sharing only the parsed service models:
    loading them again for each of a few hundred processes would be most of this suite's time."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _BASE.get_component("data_loader"))
    core._internal_components.register_component(
        "endpoint_resolver", _BASE._get_internal_component("endpoint_resolver")
    )
    return boto3.session.Session(botocore_session=core, region_name=REGION)


@dataclass(frozen=True)
class CrashPoint:
    index: int  # 0-based position of the AWS call in the scenario's recorded sequence
    when: str  # "before" or "after" the call


@dataclass
class Recorder:
    """Counts AWS calls across processes; kills the one making the call at the crash point."""

    crash: CrashPoint | None = None
    active: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    crashed: tuple[str, str] | None = None  # (role, operation) where the crash happened

    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, role: str, when: str, model: Any = None, context: dict[str, Any] | None = None, **_: Any) -> None:
        if not self.active:
            return
        if role in self.dead:
            raise SimulatedCrash()
        operation = f"{model.service_model.service_id}.{model.name}"
        # A call's index is fixed at its before-call and carried to its after-call in botocore's
        # request context: calls made on several threads at once (the queries over the status
        # index's shards) each keep their own.
        if when == "before":
            with self.lock:
                self.calls.append((role, operation))
                index = len(self.calls) - 1
            if context is not None:
                context["crash_point_index"] = index
        else:
            index = (context or {}).get("crash_point_index", len(self.calls) - 1)
        if self.crash is not None and self.crash.when == when and index == self.crash.index:
            self.dead.add(role)
            self.crashed = (role, operation)
            raise SimulatedCrash()


@dataclass
class Outcome:
    calls: list[tuple[str, str]]
    crashed: tuple[str, str] | None
    jobs: list[Job]
    runs: Counter[str]
    completions: Counter[str]
    effects: Counter[str]
    cancel_acknowledged: set[str]
    api_statuses: list[int]
    requeued_by_sweeps: int
    rounds: int
    settled: bool
    batches: list[Any] = field(default_factory=list)


class World:
    """One scenario's AWS world: moto in-process, a ManualClock, one Runtime per process role."""

    current: World | None = None

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.settings = dataclasses.replace(
            Settings.from_env(),
            jobs_table="tickwork-jobs",
            queue_prefix="tickwork-",
            backoff_s=(0,),
            lease_s=30,
            progress_interval_s=0.0,
            jwt_secret=SECRET,
        )
        self.clock = ManualClock(START)
        self.admin = mint_token(SECRET, role=Role.ADMIN, subject="crash-tester")
        self.client = Client(app_module.app)
        self.runs: Counter[str] = Counter()
        self.completions: Counter[str] = Counter()
        self.effects: dict[str, str] = {}  # idempotency key -> job id: the external system's record
        self.cancel_acknowledged: set[str] = set()
        self.api_statuses: list[int] = []
        self.receipts: list[tuple[str, str]] = []
        self.requeued = 0
        self.processes: dict[str, Runtime] = {}
        plain = new_session()
        provision(plain, self.settings)
        self.sqs = plain.client("sqs")
        self.urls = {
            p: self.sqs.get_queue_url(QueueName=queue_name(self.settings.queue_prefix, p.value))["QueueUrl"]
            for p in PRIORITY_ORDER
        }
        self.arns = {
            p: self.sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for p, u in self.urls.items()
        }
        self.table = plain.resource("dynamodb").Table(self.settings.jobs_table)
        self.restart()

    # --- processes -----------------------------------------------------------------------

    def restart(self) -> None:
        """Fresh processes for every role: nothing carried over but what AWS holds."""
        self.recorder.dead.clear()
        self.processes = {role: self._process(role) for role in ("api", "worker", "tick")}

    def _process(self, role: str) -> Runtime:
        session = new_session()
        for when in WHENS:
            session.events.register(
                f"{when}-call.*.*", lambda model=None, _w=when, **kw: self.recorder.hook(role, _w, model=model, **kw)
            )
        return Runtime(settings=self.settings, clock=self.clock, session=session)

    # --- the API -------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One request to the API process; None when the process died before answering."""
        runtime.use(self.processes["api"])
        headers = {"Authorization": f"Bearer {self.admin}", "Content-Type": "application/json"}
        try:
            if method == "GET":
                response = self.client.http.get(path, headers=headers)
            else:
                response = self.client.http.post(path, headers=headers, body=json.dumps(body or {}))
        except SimulatedCrash:
            return None
        self.api_statuses.append(response.status_code)
        return response

    def schedule(self, fields: dict[str, Any] | None = None, **payload: Any) -> str | None:
        body = {"type": JOB_TYPE, "storeId": "store-c", "payload": payload, **(fields or {})}
        response = self.api("POST", "/api/background-jobs/schedule", body)
        return response.json_body["job"]["id"] if response is not None and response.status_code < 300 else None

    def create_batch(self) -> str | None:
        """POST a batch of BATCH_SIZE effect jobs with both callbacks (its id, if the API answered)."""
        body = {
            "store_id": "store-c",
            "jobs": [{"type": JOB_TYPE, "payload": {"child": n}} for n in range(BATCH_SIZE)],
            "on_complete": {"type": JOB_TYPE, "payload": {"callback": "on_complete"}},
            "on_success": {"type": JOB_TYPE, "payload": {"callback": "on_success"}},
        }
        with mock.patch("chalicelib.batches.model.uuid.uuid4", return_value=BATCH_ID):
            response = self.api("POST", "/api/background-jobs/batches", body)
        return response.json_body["batch"]["id"] if response is not None and response.status_code < 300 else None

    def cancel(self, job_id: str) -> None:
        response = self.api("POST", f"/api/background-jobs/{job_id}/cancel")
        if response is not None and response.status_code == 200:
            self.cancel_acknowledged.add(job_id)

    def apply_effect(self, key: str, job_id: str) -> None:
        self.completions[job_id] += 1
        self.effects.setdefault(key, job_id)  # a repeat is acknowledged, not applied again

    # --- workers and ticks -----------------------------------------------------------------

    def drain(self) -> None:
        """Deliver every visible message to the worker process, as Lambda's poller would."""
        worker = self.processes["worker"].worker
        for _ in range(100):
            for priority in PRIORITY_ORDER:
                url = self.urls[priority]
                messages = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=self.settings.lease_s,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    break
            else:
                return
            self.receipts += [(url, m["ReceiptHandle"]) for m in messages]
            event = sqs_event(messages, self.arns[priority], REGION)
            answer = worker.handle_event(event, LambdaContext(function_name="worker", timeout_s=900))
            failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )

    def tick(self) -> None:
        now = self.clock.now()
        report = self.processes["tick"].tick.run_tick(now.replace(second=0, microsecond=0))
        self.requeued += report.requeued

    def release_in_flight(self) -> None:
        """Every message a dead or waiting worker holds becomes visible: its timeout has passed."""
        for url, receipt in self.receipts:
            with contextlib.suppress(ClientError):  # deleted, or not in flight
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
        self.receipts.clear()

    # --- state -----------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        items, request = [], {}
        while True:
            page = self.table.scan(**request)
            items += [i for i in page["Items"] if "type" in i]  # rate-limit counters share the table
            if "LastEvaluatedKey" not in page:
                return [job_from_item(i) for i in items]
            request = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def batches(self) -> list[Any]:
        items, request = [], {}
        while True:
            page = self.table.scan(**request)
            items += [i for i in page["Items"] if i.get("kind") == "batch"]
            if "LastEvaluatedKey" not in page:
                return [batch_from_item(i) for i in items]
            request = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def queues_empty(self) -> bool:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        for url in self.urls.values():
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            if any(int(attrs.get(n, 0)) for n in names):
                return False
        return True

    def settled(self) -> bool:
        batches_done = all(b.is_final and b.callbacks_sent for b in self.batches())
        return all(is_terminal(job.status) for job in self.jobs()) and self.queues_empty() and batches_done

    def quiesce(self) -> tuple[int, bool]:
        """Restart, then redeliver, run ticks and drain until every job is terminal and queues are empty."""
        self.restart()
        for round_no in range(1, QUIESCE_ROUNDS + 1):
            self.release_in_flight()
            self.clock.advance(LOST_LEASE_GRACE_S + self.settings.lease_s + 1)
            self.drain()
            self.tick()
            self.drain()
            if self.settled():
                return round_no, True
        return QUIESCE_ROUNDS, False


# --- scenarios: setup (never crashed), then the steps whose AWS calls are crash points --------


CRON_ID = uuid.UUID("6f1c1a52-0d1e-4c51-9a0e-3b8f5a0c2d11")


def _create_cron(world: World) -> None:
    body = {
        "name": "hourly",
        "cron_expression": "0 * * * *",
        "job_type": JOB_TYPE,
        "configuration": {},
        "store_id": "store-c",
        "timezone": "UTC",
    }
    # A fixed id puts the cron job in the same shard of the due index on every run, so the
    # tick's calls come in the same order and each crash point names the same call.
    with mock.patch("chalicelib.crons.service.uuid.uuid4", return_value=CRON_ID):
        assert world.api("POST", "/api/cron-jobs", body).status_code == 201
    world.clock.advance((SLOT - START).total_seconds())


def _pending_job(world: World) -> None:
    assert world.schedule() is not None


def _failed_job(world: World) -> None:
    job_id = world.schedule(fail_first=True)
    world.drain()
    assert world.jobs()[0].status == JobStatus.FAILED, job_id


def _running_job(world: World) -> None:
    assert world.schedule(cancel_inside=True) is not None


def _only_job(world: World) -> str:
    (job,) = world.jobs()
    return job.id


DEBOUNCE = {"debounce": {"key": "product-1", "seconds": 5}}
DEDUP = {"dedup": {"key": "order-1", "seconds": 600}}


def _debounce_window(world: World) -> None:
    world.schedule(DEBOUNCE, n=1)
    world.schedule(DEBOUNCE, n=2)
    world.clock.advance(6)
    _run(world, world.drain)


def _dedup_window(world: World) -> None:
    world.schedule(DEDUP, n=1)
    world.schedule(DEDUP, n=2)
    _run(world, world.drain)


def _expiring_job(world: World) -> None:
    assert world.schedule({"expire_after_seconds": 10}) is not None
    world.clock.advance(11)


BATCH_ID = uuid.UUID("3d0b5e8a-6c1f-4f7e-9b2a-5e4d3c2b1a09")
BATCH_SIZE = 2


def _open_batch(world: World) -> None:
    assert world.create_batch() is not None


@dataclass(frozen=True)
class Scenario:
    name: str
    setup: Callable[[World], None]
    steps: Callable[[World], None]
    what: str
    # SQS's timers follow the ManualClock (a debounced message is sent with a delay).
    clocked_sqs: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "job_life",
            lambda w: None,
            lambda w: (w.schedule(), _run(w, w.drain)),
            "POST schedule, then a worker claims, reports progress and finishes the job",
        ),
        Scenario(
            "large_job_life",
            lambda w: None,
            lambda w: (w.schedule(pad="p" * 2_000, log=True, result_bytes=2_000), _run(w, w.drain)),
            "the same with a payload and a result kept in S3, and a logged line (its own item)",
        ),
        Scenario(
            "cron_firing",
            _create_cron,
            lambda w: _run(w, w.tick),
            "the minute tick at a slot: query due crons, put the slot's job, send it, advance the cron",
        ),
        Scenario(
            "cancel_pending",
            _pending_job,
            lambda w: w.cancel(_only_job(w)),
            "POST cancel of a pending job (its message still queued)",
        ),
        Scenario(
            "cancel_running",
            _running_job,
            lambda w: _run(w, w.drain),
            "a worker runs the job; mid-run the API cancels it; the handler's next report sees it",
        ),
        Scenario(
            "batch_life",
            lambda w: None,
            lambda w: (w.create_batch(), _run(w, w.drain)),
            "POST a batch of two jobs with on_complete and on_success; a worker runs the children, counts "
            "each end on the batch, ends it and queues the callbacks, then runs them",
        ),
        Scenario(
            "batch_cancel",
            _open_batch,
            lambda w: (w.api("POST", f"/api/background-jobs/batches/{BATCH_ID}/cancel"), _run(w, w.drain)),
            "POST cancel of an open batch whose two children are pending: each cancelled and counted, the "
            "batch ends, on_complete is queued and runs",
        ),
        Scenario(
            "retry",
            _failed_job,
            lambda w: (w.api("POST", f"/api/background-jobs/{_only_job(w)}/retry"), _run(w, w.drain)),
            "POST retry of a failed job, then a worker runs it again",
        ),
        Scenario(
            "debounce_window",
            lambda w: None,
            _debounce_window,
            "two debounced POST schedules of one key (the second collapses), then a worker runs the job",
            clocked_sqs=True,
        ),
        Scenario(
            "dedup_window",
            lambda w: None,
            _dedup_window,
            "two POST schedules of one dedup key (the second answers with the first job), then a worker runs it",
        ),
        Scenario(
            "expired_claim",
            _expiring_job,
            lambda w: _run(w, w.drain),
            "a worker finds a job past its start deadline: the claim refuses it and it ends expired",
        ),
    )
}


def _run(world: World, step: Callable[[], None]) -> None:
    """A worker or tick process: its crash ends it, and only it."""
    with contextlib.suppress(SimulatedCrash):
        step()


def run_scenario(name: str, crash: CrashPoint | None) -> Outcome:
    scenario = SCENARIOS[name]
    recorder = Recorder(crash=crash)
    with mock_aws(), contextlib.ExitStack() as clocked:
        world = World(recorder)
        World.current = world
        if scenario.clocked_sqs:
            clocked.enter_context(sqs_follows(world.clock))
        try:
            scenario.setup(world)
            recorder.active = True
            scenario.steps(world)
            calls = list(recorder.calls)
            recorder.active = False
            rounds, settled = world.quiesce()
            # After quiescence the API still answers for every job (never a 5xx).
            for job in world.jobs():
                world.api("GET", f"/api/background-jobs/{job.id}")
            return Outcome(
                calls=calls,
                crashed=recorder.crashed,
                jobs=world.jobs(),
                runs=world.runs,
                completions=world.completions,
                effects=Counter(world.effects.values()),
                cancel_acknowledged=world.cancel_acknowledged,
                api_statuses=world.api_statuses,
                requeued_by_sweeps=world.requeued,
                rounds=rounds,
                settled=settled,
                batches=world.batches(),
            )
        finally:
            World.current = None
            runtime.use(None)


def recorded_calls(name: str) -> list[tuple[str, str]]:
    return run_scenario(name, None).calls


def violations(outcome: Outcome) -> list[str]:
    """The invariants that do not hold after restart and quiescence (empty: all hold)."""
    found = []
    if not outcome.settled:
        stuck = [f"{j.id[:8]} {j.status.value}" for j in outcome.jobs if not is_terminal(j.status)]
        found.append(f"not quiescent: jobs not terminal or messages left ({stuck})")
    for job_id, applied in outcome.effects.items():
        if applied > 1:
            found.append(f"job {job_id} applied its side effect {applied} times")
    for job in outcome.jobs:
        if job.status == JobStatus.COMPLETED and outcome.effects[job.id] != 1:
            found.append(f"job {job.id} completed with {outcome.effects[job.id]} side effects")
        if job.id in outcome.cancel_acknowledged and job.status == JobStatus.COMPLETED:
            found.append(f"job {job.id}: cancel acknowledged, yet it completed")
    slots = Counter((j.cron_job_id, j.scheduled_at) for j in outcome.jobs if j.cron_job_id)
    found += [f"cron slot {slot} has {n} jobs" for slot, n in slots.items() if n > 1]
    # Every schedule of a scenario's window came before any run: one window, one job.
    windows = Counter(j.debounce_key or j.dedup_key for j in outcome.jobs if j.debounce_key or j.dedup_key)
    found += [f"window {key} has {n} jobs" for key, n in windows.items() if n > 1]
    found += [
        f"job {j.id} ran, then expired" for j in outcome.jobs if j.status == JobStatus.EXPIRED and outcome.runs[j.id]
    ]
    found += [f"the API answered {status}" for status in outcome.api_statuses if status >= 500]
    found += batch_violations(outcome)
    return found


def batch_violations(outcome: Outcome) -> list[str]:
    """Each batch: its counts are its children's statuses; on_complete ran exactly once once every
    child ended; on_success ran exactly once if every child completed, and never otherwise."""
    found = []
    by_id = {job.id: job for job in outcome.jobs}
    for batch in outcome.batches:
        children = [job for job in outcome.jobs if job.batch_id == batch.id]
        statuses = Counter(job.status for job in children)
        counted = (batch.total, batch.completed, batch.failed, batch.cancelled, batch.expired)
        actual = (
            len(children),
            statuses[JobStatus.COMPLETED],
            statuses[JobStatus.FAILED],
            statuses[JobStatus.CANCELLED],
            statuses[JobStatus.EXPIRED],
        )
        if counted != actual:
            found.append(
                f"batch {batch.id[:8]} counts (total, completed, failed, cancelled, expired) {counted} != {actual}"
            )
        if any(not job.batch_counted for job in children if is_terminal(job.status)):
            found.append(f"batch {batch.id[:8]} has an ended child never counted")
        finished = all(is_terminal(job.status) for job in children)
        for which in Callback:
            callback = by_id.get(callback_id(batch.id, which))
            due = batch.is_final and (which == Callback.ON_COMPLETE or batch.state == BatchState.SUCCEEDED)
            if due and (callback is None or outcome.effects[callback.id] != 1):
                found.append(f"batch {batch.id[:8]}: {which.value} did not run exactly once")
            if not due and callback is not None:
                found.append(f"batch {batch.id[:8]}: {which.value} ran though not due")
        all_completed = len(children) == BATCH_SIZE and statuses[JobStatus.COMPLETED] == BATCH_SIZE
        if batch.state == BatchState.SUCCEEDED and not all_completed:
            found.append(f"batch {batch.id[:8]} succeeded, yet not every child it was asked for completed")
        if batch.is_final and all_completed and batch.state != BatchState.SUCCEEDED:
            found.append(f"batch {batch.id[:8]}: every child completed, yet it is {batch.state.value}")
        if finished and not batch.is_final:
            found.append(f"batch {batch.id[:8]}: every child ended, yet it is {batch.state.value}")
    return found


def restart_summary(outcome: Outcome) -> str:
    """What the system did after the restart, in a few words, for the table."""
    if not outcome.jobs:
        return "no job was stored; nothing to do"
    parts = []
    for job in outcome.jobs:
        runs = outcome.runs[job.id]
        text = f"{job.status.value}"
        if runs:
            text += f", ran {runs}x" + (f" (effect once, {runs - 1} repeat)" if outcome.completions[job.id] > 1 else "")
        if job.id in outcome.cancel_acknowledged:
            text += ", cancel acknowledged"
        parts.append(text)
    for batch in outcome.batches:
        ran = [w.value for w in Callback if outcome.runs[callback_id(batch.id, w)]]
        text = f"batch {batch.state.value} {batch.completed}/{batch.total}"
        if batch.note:
            text += " (creation cut short)"
        parts.append(text + (f", {' and '.join(ran)} ran" if ran else ""))
    if outcome.requeued_by_sweeps:
        parts.append(f"sweep re-sent {outcome.requeued_by_sweeps} message(s)")
    parts.append(f"quiet after {outcome.rounds} round(s)")
    return "; ".join(parts)


def table(names: list[str] | None = None) -> str:
    lines = [
        "| scenario | # | process | AWS call | crash | on restart | invariants |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names or SCENARIOS:
        for index, (role, operation) in enumerate(recorded_calls(name)):
            for when in WHENS:
                outcome = run_scenario(name, CrashPoint(index, when))
                broken = violations(outcome)
                verdict = "all hold" if not broken else "BROKEN: " + "; ".join(broken)
                lines.append(
                    f"| {name} | {index} | {role} | {operation} | {when} | {restart_summary(outcome)} | {verdict} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    from devstack.moto_lock import serialize_moto_requests

    serialize_moto_requests()  # as tests/conftest.py does: conditional writes atomic
    import sys

    print(table(sys.argv[1:] or None))
