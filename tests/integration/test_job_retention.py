"""Finished jobs carry an expiry that the jobs table's TTL acts on (deploy/template.py enables it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.clock import from_iso
from chalicelib.config import Settings
from chalicelib.jobs.store import TTL_ATTRIBUTE
from tests.conftest import Stack, built_stack

DAY_S = 24 * 3600


def stored(stack: Stack, job_id: str) -> dict[str, Any]:
    """The raw item, with attributes the Job model does not show."""
    table = stack.session.resource("dynamodb").Table(stack.runtime.settings.jobs_table)
    return table.get_item(Key={"id": job_id})["Item"]


def expires_after_s(item: dict[str, Any]) -> int:
    return int(item[TTL_ATTRIBUTE]) - int(from_iso(item["completed_at"]).timestamp())


def test_a_completed_job_expires_ninety_days_after_it_finished(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    stack.poller.drain()
    item = stored(stack, job["id"])
    assert item["status"] == "completed"
    assert expires_after_s(item) == 90 * DAY_S


def test_a_pending_or_running_job_never_expires(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, delay=600)
    assert TTL_ATTRIBUTE not in stored(stack, job["id"])


def test_a_cancelled_job_expires_and_a_retried_one_does_not_any_more(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, delay=600)
    assert stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin).status_code == 200
    cancelled = stored(stack, job["id"])
    assert cancelled["status"] == "cancelled" and expires_after_s(cancelled) == 90 * DAY_S
    assert stack.post(f"/api/background-jobs/{job['id']}/retry", {}, admin).status_code == 202
    assert TTL_ATTRIBUTE not in stored(stack, job["id"])


def test_a_failed_job_expires_too(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={"failures": 5}, maxRetries=0)
    stack.poller.drain()
    item = stored(stack, job["id"])
    assert item["status"] == "failed" and expires_after_s(item) == 90 * DAY_S


@pytest.fixture
def keep_forever_stack(settings: Settings) -> Iterator[Stack]:
    with built_stack(dataclasses.replace(settings, job_retention_days=0)) as stack:
        yield stack


def test_retention_zero_keeps_finished_jobs_for_ever(keep_forever_stack: Stack, admin: str) -> None:
    job = keep_forever_stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    keep_forever_stack.poller.drain()
    item = stored(keep_forever_stack, job["id"])
    assert item["status"] == "completed" and TTL_ATTRIBUTE not in item
