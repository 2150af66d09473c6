"""Job types and instruments for the fault suite.

A side effect here is a write to an "external system" (a DynamoDB table of its own) that, like
Stripe or any idempotent API, applies a request once per idempotency key and acknowledges a
repeat without applying it again. Kills are planned from (job id, attempt), so a run is
reproducible: a *real* kill is SIGKILL of the worker process itself; a *simulated* one is an
exception that escapes the worker as a dead process would (nothing recorded, batch not acked).
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import runtime
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.signals import JobCancelled

EFFECTS_TABLE = "fault-effects"
# Set in worker processes the suite starts; only there may a handler SIGKILL its process.
CHILD_ENV = "TICKWORK_FAULT_CHILD"
JOURNAL_ENV = "TICKWORK_FAULT_JOURNAL"
# Set in worker processes started after "the fix was deployed" (the crash-loop scenario).
FIXED_ENV = "TICKWORK_FAULT_FIXED"


class SimulatedCrash(BaseException):
    """Escapes the worker like a killed process: no outcome recorded, the batch not acknowledged."""


def journal(event: str, job_id: str) -> None:
    """Append ``event job_id`` to this process's journal; flushed at once, so a SIGKILL keeps it."""
    folder = os.environ.get(JOURNAL_ENV)
    if not folder:
        return
    with open(Path(folder) / f"{os.getpid()}.log", "a", encoding="utf-8") as out:
        out.write(f"{event} {job_id}\n")
        out.flush()


def read_journals(folder: Path) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            event, _, job_id = line.partition(" ")
            if job_id:
                lines.append((event, job_id))
    return lines


@dataclass(frozen=True)
class Kill:
    real: bool  # SIGKILL of the process, else SimulatedCrash
    after_effect: bool  # dies after the side effect was applied (the case idempotency is for)


def planned_kill(job_id: str, attempt: int, probability: float, real_share: float) -> Kill | None:
    rng = random.Random(f"{job_id}:{attempt}")
    draw = rng.random()
    if draw >= probability:
        return None
    return Kill(real=draw < probability * real_share, after_effect=rng.random() < 0.5)


def die(kill: Kill) -> None:
    if kill.real and os.environ.get(CHILD_ENV):
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never reached: SIGKILL cannot be caught
    raise SimulatedCrash()


def effects_table() -> Any:
    return boto3.resource("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1")).Table(EFFECTS_TABLE)


def create_effects_table(session: Any) -> None:
    session.client("dynamodb").create_table(
        TableName=EFFECTS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )


def apply_effect(key: str, job_id: str, attempt: int) -> bool:
    """The external system: applies once per key; False when it was a repeat (acknowledged, not applied)."""
    try:
        effects_table().put_item(
            Item={"key": key, "job_id": job_id, "attempt": attempt},
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "key"},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def effects_by_job(session: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    table = session.resource("dynamodb").Table(EFFECTS_TABLE)
    request: dict[str, Any] = {}
    while True:
        page = table.scan(**request)
        for item in page["Items"]:
            counts[item["job_id"]] = counts.get(item["job_id"], 0) + 1
        if "LastEvaluatedKey" not in page:
            return counts
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class EffectJob(BaseJobHandler):
    """Applies one side effect keyed by its idempotency key; may be killed before or after it.

    Payload: ``kill_p`` (chance an attempt dies), ``real_share`` (of those, the share killed by
    SIGKILL), ``work_s`` (seconds of work, reporting progress, before the effect).
    """

    def execute(self) -> dict[str, Any]:
        payload = self.job.payload
        journal("start", self.job.id)
        kill = planned_kill(
            self.job.id, self.job.attempts, float(payload.get("kill_p", 0)), float(payload.get("real_share", 0))
        )
        self.update_progress(10, "working")
        end = time.monotonic() + float(payload.get("work_s", 0))
        while time.monotonic() < end:
            time.sleep(0.05)
            self.update_progress(50, "still working")
        if kill is not None and not kill.after_effect:
            journal("killed", self.job.id)
            die(kill)
        applied = apply_effect(self.idempotency_key, self.job.id, self.job.attempts)
        journal("effect" if applied else "effect-repeat", self.job.id)
        if kill is not None and kill.after_effect:
            journal("killed", self.job.id)
            die(kill)
        return {"effect": "applied" if applied else "repeat"}


class CrashLoopJob(BaseJobHandler):
    """Kills its worker process on every attempt until a fixed version is deployed."""

    def execute(self) -> dict[str, Any]:
        journal("start", self.job.id)
        if not os.environ.get(FIXED_ENV):
            die(Kill(real=True, after_effect=False))
        return {"fixed": True}


class SlowCountingJob(BaseJobHandler):
    """Counts to ``payload.steps``, checkpointing after each step; cancellable; resumes from its checkpoint."""

    def execute(self) -> dict[str, Any]:
        steps = int(self.job.payload.get("steps", 100))
        done = int((self.checkpoint_state or {}).get("done", 0))
        try:
            while done < steps:
                time.sleep(float(self.job.payload.get("step_s", 0.01)))
                done += 1
                self.update_progress(done * 100 // steps, f"step {done}")
                self.checkpoint({"done": done})
        except JobCancelled:
            raise JobCancelled(partial_result={"done": done}) from None
        return {"done": done}


TYPES = {
    "plugin:fault-kit:effect": EffectJob,
    "plugin:fault-kit:crash-loop": CrashLoopJob,
    "plugin:fault-kit:counting": SlowCountingJob,
}
for _name, _handler in TYPES.items():
    if _name not in {t.name for t in runtime.registry.all()}:
        runtime.registry.register(_name, _handler)
