"""The test kit tells the story the real worker tells: the same handlers, run once each way.

Through the worker: scheduled with the API on moto, run by the queue poller, read back as the API
shows the job. Through the kit: ``run_handler``. Compared: status, result, error, the progress
the job ends with, and the log lines (their messages; the timestamps differ by when each ran).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.auth import SYSTEM_PRINCIPAL
from chalicelib.clock import from_iso
from chalicelib.config import Settings
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.signals import JobCancelled, PermanentJobError
from plugins.my_plugin.jobs.import_job import ImportPayload, MyImportJob
from tests.conftest import Stack
from tickwork_testing import HandlerRun, run_handler

PARTIAL_TYPE = "plugin:kit-parity:partial"
MISCONFIGURED_TYPE = "plugin:kit-parity:misconfigured"

# What a PartialImport does after its item ``payload.cancel_after``: in the worker's run, cancel
# its own job through the service; in the kit's, nothing (the kit plays the cancel instead).
after_cancel_point: list[Callable[[str], None]] = [lambda job_id: None]


class PartialImport(BaseJobHandler):
    """Imports ``payload.count`` items, reporting each; keeps what it did when cancelled."""

    def execute(self) -> dict[str, Any]:
        done: list[int] = []
        self.log("starting")
        try:
            for i in range(self.job.payload["count"]):
                self.update_progress(100 * i / self.job.payload["count"], f"item {i + 1}")
                done.append(i)
                self.log(f"imported item {i + 1}")
                if i + 1 == self.job.payload.get("cancel_after"):
                    after_cancel_point[0](self.job.id)
        except JobCancelled:
            self.log(f"stopping after {len(done)} items")
            raise JobCancelled(partial_result={"done": done}) from None
        return {"done": done}


class Misconfigured(BaseJobHandler):
    def execute(self) -> None:
        self.update_progress(5, "checking the configuration")
        self.log("no API key in the payload")
        raise PermanentJobError("set apiKey in the payload")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every report is written, so the worker's run learns of a cancel at the report right after it.
    return dataclasses.replace(settings, progress_interval_s=0.0)


@pytest.fixture
def registered(stack: Stack) -> Stack:
    runtime.registry.register(PARTIAL_TYPE, PartialImport)
    runtime.registry.register(MISCONFIGURED_TYPE, Misconfigured)
    return stack


def through_the_worker(stack: Stack, admin: str, job_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    job = stack.schedule(admin, type=job_type, payload=payload, maxRetries=0)
    assert stack.poller.drain() == 1
    return stack.get(f"/api/background-jobs/{job['id']}", admin).json_body["job"]


def assert_same_story(job: dict[str, Any], run: HandlerRun) -> None:
    assert run.status == job["status"]
    assert run.result == job["result"]
    assert run.error == job["error"]
    assert (run.progress, run.progress_message) == (job["progress"], job["progress_message"])
    stamps, messages = zip(*(line.split(" ", 1) for line in job["logs"]), strict=True) if job["logs"] else ((), ())
    assert run.log_messages == list(messages)
    for line, stamp in zip(run.logs, stamps, strict=True):  # the same timestamp shape
        assert len(line.split(" ", 1)[0]) == len(stamp) and from_iso(stamp) and from_iso(line.split(" ", 1)[0])


def test_the_guides_import_job_completes_alike(registered: Stack, admin: str) -> None:
    payload = {"items": [{"name": "a"}, {"name": ""}, {"name": "c", "fail": "out of stock"}, {"name": "d"}]}
    job = through_the_worker(registered, admin, "plugin:my-plugin:import", payload)
    run = run_handler(MyImportJob, payload=payload, payload_model=ImportPayload)
    assert job["status"] == "completed" and job["result"] == {"total": 4, "successful": 2, "failed": 2}
    assert_same_story(job, run)


def test_a_cancel_acknowledged_mid_run_ends_alike_with_the_partial_result(registered: Stack, admin: str) -> None:
    payload = {"count": 6, "cancel_after": 2}
    after_cancel_point[0] = lambda job_id: registered.runtime.jobs.cancel(job_id, SYSTEM_PRINCIPAL) and None
    try:
        job = through_the_worker(registered, admin, PARTIAL_TYPE, payload)
    finally:
        after_cancel_point[0] = lambda job_id: None
    # The worker learns of the cancel at the report after item 2's: the kit's third report.
    run = run_handler(PartialImport, payload=payload, cancel_at_progress=3)
    assert job["status"] == "cancelled" and job["result"] == {"done": [0, 1]}
    assert_same_story(job, run)


def test_a_permanent_error_fails_alike(registered: Stack, admin: str) -> None:
    job = through_the_worker(registered, admin, MISCONFIGURED_TYPE, {})
    run = run_handler(Misconfigured, max_retries=0)
    assert job["status"] == "failed"
    assert_same_story(job, run)
