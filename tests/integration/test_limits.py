"""Limits: each a clear 4xx (413 for sizes, 429 for quotas), never a 500 or a silent truncation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.config import Settings
from chalicelib.errors import TooManyRequestsError
from chalicelib.jobs.rate_limit import ScheduleRateLimiter, batch_size
from tests.conftest import T0, Stack, assert_error, built_stack

SCHEDULE = "/api/background-jobs/schedule"


@pytest.fixture
def limited_stack(settings: Settings) -> Iterator[Stack]:
    limited = dataclasses.replace(settings, max_jobs_per_minute_per_store=3, max_cron_jobs_per_store=2)
    with built_stack(limited, ManualClock(T0)) as stack:
        yield stack


def job(store: str = "store-a", **fields: Any) -> dict[str, Any]:
    return {"type": "plugin:my-plugin:import", "storeId": store, "payload": {"count": 1}, **fields}


def test_a_store_that_schedules_past_its_minute_gets_429_and_others_do_not(limited_stack: Stack, admin: str) -> None:
    stack = limited_stack
    assert [stack.post(SCHEDULE, job(), admin).status_code for _ in range(3)] == [201, 201, 201]
    error = assert_error(stack.post(SCHEDULE, job(), admin), 429, "rate_limited")
    assert "3 jobs this minute" in error["error"] and "try again in 60 s" in error["error"]
    assert stack.post(SCHEDULE, job("store-b"), admin).status_code == 201  # per store
    assert stack.clock is not None
    stack.clock.advance(60)
    assert stack.post(SCHEDULE, job(), admin).status_code == 201  # a new minute
    # The counters share the jobs table but never show up as jobs.
    listed = stack.get("/api/background-jobs?limit=100", admin).json_body["jobs"]
    assert len(listed) == 5 and all(item["type"] == "plugin:my-plugin:import" for item in listed)


def test_a_high_limit_is_counted_in_batches_overshooting_one_per_container(stack: Stack) -> None:
    table = stack.runtime._jobs_table
    clock = ManualClock(T0)
    containers = [ScheduleRateLimiter(table, clock, per_minute=500) for _ in range(3)]
    assert batch_size(500) == 10 and batch_size(99) == 1
    admitted = 0
    for turn in range(600):
        try:
            containers[turn % 3].admit("store-a")
            admitted += 1
        except TooManyRequestsError:
            pass
    assert 500 <= admitted <= 500 + 3 * 10
    counted = table.get_item(Key={"id": "ratelimit#store-a#202611281200"})["Item"]["count"]
    assert admitted - 3 * 10 <= counted <= admitted


def test_cron_jobs_per_store_are_capped_with_429(limited_stack: Stack, admin: str) -> None:
    body = {"name": "n", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "store-a"}
    assert [limited_stack.post("/api/cron-jobs", body, admin).status_code for _ in range(2)] == [201, 201]
    assert_error(limited_stack.post("/api/cron-jobs", body, admin), 429, "limit_reached")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (job(payload={"blob": "x" * 300_000}), 413, "payload_too_large"),
        (job(metadata={"blob": "x" * 20_000}), 413, "payload_too_large"),
        (job(type="plugin:my-plugin:" + "x" * 200), 400, "validation_error"),
        (job(idempotency_key="k" * 129), 400, "validation_error"),
        (job(storeId="s" * 129), 400, "validation_error"),
        (job(userId="u" * 129), 400, "validation_error"),
        (job(maxRetries=10**30), 400, "validation_error"),
        (job(delay=10**30), 400, "validation_error"),
    ],
)
def test_oversized_job_fields_are_refused(
    stack: Stack, admin: str, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(stack.post(SCHEDULE, body, admin), status, code)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"configuration": {"blob": "x" * 70_000}}, 413, "payload_too_large"),
        ({"name": "n" * 201}, 400, "validation_error"),
        ({"description": "d" * 2001}, 400, "validation_error"),
        ({"tags": ["t"] * 21}, 400, "validation_error"),
        ({"tags": ["t" * 65]}, 400, "validation_error"),
        ({"max_runs": 10**30}, 400, "validation_error"),
        ({"max_retries": 10**30}, 400, "validation_error"),
    ],
)
def test_oversized_cron_fields_are_refused(
    stack: Stack, admin: str, fields: dict[str, Any], status: int, code: str
) -> None:
    body = {"name": "n", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import", "store_id": "s"}
    assert_error(stack.post("/api/cron-jobs", {**body, **fields}, admin), status, code)


def test_a_body_over_the_request_limit_is_a_413_before_it_is_parsed(stack: Stack, admin: str) -> None:
    raw = json.dumps(job(payload={"blob": "x" * 600_000}))
    assert_error(stack.post(SCHEDULE, raw, admin), 413, "payload_too_large")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1e3"])
def test_list_limits_outside_1_to_100_are_a_400(stack: Stack, admin: str, limit: str) -> None:
    for path in ("/api/background-jobs", "/api/cron-jobs"):
        assert_error(stack.get(f"{path}?limit={limit}", admin), 400, "validation_error")
