"""Calendar edges (years 1 and 9999) and next_tokens from other listings: 4xx or a shorter answer, never 5xx."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import Stack, assert_error, token
from tests.kit import guide_body

PREVIEW = "/api/cron-jobs/preview"
SCHEDULE = "/api/background-jobs/schedule"


def preview(stack: Stack, tok: str, after: str, expression: str = "* * * * *", zone: str = "UTC") -> Any:
    return stack.post(PREVIEW, {"cron_expression": expression, "timezone": zone, "after": after, "count": 3}, tok)


def field_named(response: Any, name: str) -> bool:
    return any(name in detail["field"] for detail in response.json_body["details"])


# --- cron preview ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "after",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "0001-01-01T00:00:00Z",  # in UTC, but before year 1 in any zone east of it
        "9999-12-31T23:59:00Z",
        "9999-12-31T23:59:00-01:00",  # past year 9999 in UTC
    ],
)
def test_a_preview_after_the_calendars_ends_is_a_400_naming_after(clocked_stack: Stack, admin: str, after: str) -> None:
    response = preview(clocked_stack, admin, after)
    assert_error(response, 400, "validation_error")
    assert field_named(response, "after")


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # The next 29 February after 9996 would be in the year 10000: there is none.
        ("0 0 29 2 *", "UTC", "9996-03-01T00:00:00Z", []),
        ("59 23 31 12 *", "UTC", "9998-12-31T23:59:30Z", ["9999-12-31T23:59:00Z"]),
        # Kiritimati is UTC+14: its midnight after 9999-12-31 is 10000-01-01 local, past the end.
        ("0 0 * * *", "Pacific/Kiritimati", "9999-12-29T00:00:00Z", ["9999-12-29T10:00:00Z", "9999-12-30T10:00:00Z"]),
        # A wildcard job probes the zone's offset a day ahead: near the end that probe must stop at it.
        (
            "0 */12 31 12 *",
            "America/New_York",
            "9999-12-30T23:00:00Z",
            ["9999-12-31T05:00:00Z", "9999-12-31T17:00:00Z"],
        ),
    ],
)
def test_a_preview_near_the_calendars_end_lists_only_the_runs_before_it(
    clocked_stack: Stack, admin: str, expression: str, zone: str, after: str, expected: list[str]
) -> None:
    response = preview(clocked_stack, admin, after, expression, zone)
    assert response.status_code == 200, response.json_body
    assert response.json_body["next_runs"] == expected


# --- schedule run_at / delay ---------------------------------------------------------------


@pytest.mark.parametrize(
    "run_at",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:00Z"],
)
def test_a_run_at_at_the_calendars_ends_is_a_400_naming_run_at(clocked_stack: Stack, admin: str, run_at: str) -> None:
    body = {"type": "plugin:test-kit:flaky", "storeId": "store-a", "run_at": run_at}
    response = clocked_stack.post(SCHEDULE, body, admin)
    assert_error(response, 400, "validation_error")
    assert field_named(response, "run_at")


@pytest.mark.parametrize("delay", ["1e308", "NaN", "Infinity", "-Infinity", "1e400"])
def test_a_huge_or_not_finite_delay_is_a_400(clocked_stack: Stack, admin: str, delay: str) -> None:
    # Raw JSON: Python's json (Chalice's) reads NaN and Infinity.
    raw = '{"type": "plugin:test-kit:flaky", "storeId": "store-a", "delay": ' + delay + "}"
    response = clocked_stack.post(SCHEDULE, raw, admin)
    assert response.status_code == 400, response.json_body


ZONES = st.one_of(
    st.timezones(),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m))),
)
MOMENTS = st.datetimes(timezones=ZONES, allow_imaginary=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=MOMENTS, expression=st.sampled_from(["* * * * *", "0 0 29 2 *", "0 */6 * * *", "59 23 31 12 *"]))
@example(moment=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), expression="* * * * *")
@example(moment=datetime(9999, 12, 31, 23, 59, tzinfo=UTC), expression="0 0 29 2 *")
def test_any_after_or_run_at_answers_2xx_or_4xx(
    clocked_stack: Stack, admin: str, moment: datetime, expression: str
) -> None:
    text = moment.isoformat()
    zone = getattr(moment.tzinfo, "key", "UTC")
    answer = clocked_stack.post(PREVIEW, {"cron_expression": expression, "timezone": zone, "after": text}, admin)
    assert answer.status_code < 500, (text, answer.json_body)
    body = {"type": "plugin:test-kit:flaky", "storeId": "store-a", "run_at": text}
    answer = clocked_stack.post(SCHEDULE, body, admin)
    assert answer.status_code < 500, (text, answer.json_body)


# --- next_token bound to its listing ---------------------------------------------------------


def first_token(stack: Stack, tok: str, path: str) -> str:
    page = stack.get(path, tok).json_body
    assert page["next_token"], page
    return page["next_token"]


def test_a_jobs_token_from_another_store_is_refused(clocked_stack: Stack, admin: str) -> None:
    for store in ("store-a", "store-b"):
        for _ in range(2):
            clocked_stack.schedule(admin, storeId=store)
    from_b = first_token(clocked_stack, admin, "/api/background-jobs?store_id=store-b&limit=1")
    answer = clocked_stack.get(f"/api/background-jobs?store_id=store-a&limit=1&next_token={from_b}", admin)
    assert_error(answer, 400, "invalid_next_token")
    # Its own listing takes it.
    assert (
        clocked_stack.get(f"/api/background-jobs?store_id=store-b&limit=1&next_token={from_b}", admin).status_code
        == 200
    )


def test_a_jobs_token_from_another_status_is_refused(clocked_stack: Stack, admin: str) -> None:
    for _ in range(2):
        clocked_stack.schedule(admin)
    done = clocked_stack.schedule(admin)
    clocked_stack.post(f"/api/background-jobs/{done['id']}/cancel", {}, admin)
    clocked_stack.schedule(admin)
    pending = first_token(clocked_stack, admin, "/api/background-jobs?status=pending&limit=1")
    answer = clocked_stack.get(f"/api/background-jobs?status=cancelled&limit=1&next_token={pending}", admin)
    assert_error(answer, 400, "invalid_next_token")


def test_an_executions_token_from_another_cron_job_is_refused(clocked_stack: Stack, admin: str) -> None:
    crons = [clocked_stack.post("/api/cron-jobs", guide_body(name=f"c{n}"), admin).json_body["job"] for n in range(2)]
    for cron in crons:
        for _ in range(2):
            clocked_stack.post(f"/api/cron-jobs/{cron['id']}/run", {}, admin)
            clocked_stack.clock.advance(1)  # type: ignore[union-attr]
    theirs = first_token(clocked_stack, admin, f"/api/cron-jobs/{crons[1]['id']}/executions?limit=1")
    answer = clocked_stack.get(f"/api/cron-jobs/{crons[0]['id']}/executions?limit=1&next_token={theirs}", admin)
    assert_error(answer, 400, "invalid_next_token")


def test_a_cron_listing_token_from_another_listing_is_refused(clocked_stack: Stack, admin: str) -> None:
    for store in ("store-a", "store-b"):
        for n in range(2):
            clocked_stack.post("/api/cron-jobs", guide_body(name=f"{store}-{n}", store_id=store), admin)
            clocked_stack.schedule(admin, storeId=store)
    crons_b = first_token(clocked_stack, admin, "/api/cron-jobs?store_id=store-b&limit=1")
    answer = clocked_stack.get(f"/api/cron-jobs?store_id=store-a&limit=1&next_token={crons_b}", admin)
    assert_error(answer, 400, "invalid_next_token")
    # Same index name and key shape (store_id, created_at, id) on the jobs table: still refused.
    jobs_a = first_token(clocked_stack, admin, "/api/background-jobs?store_id=store-a&limit=1")
    answer = clocked_stack.get(f"/api/cron-jobs?store_id=store-a&limit=1&next_token={jobs_a}", admin)
    assert_error(answer, 400, "invalid_next_token")
    crons_a = first_token(clocked_stack, admin, "/api/cron-jobs?store_id=store-a&limit=1")
    answer = clocked_stack.get(f"/api/background-jobs?store_id=store-a&limit=1&next_token={crons_a}", admin)
    assert_error(answer, 400, "invalid_next_token")


def two_jobs_in_each_of_two_stores(stack: Stack, admin: str) -> None:
    for store in ("store-a", "store-b"):
        for _ in range(2):
            stack.schedule(admin, storeId=store)


def test_a_token_whose_key_was_moved_to_another_partition_is_refused(clocked_stack: Stack, admin: str) -> None:
    two_jobs_in_each_of_two_stores(clocked_stack, admin)
    token_a = first_token(clocked_stack, admin, "/api/background-jobs?store_id=store-a&limit=1")
    body = json.loads(base64.urlsafe_b64decode(token_a + "=" * (-len(token_a) % 4)))
    body["k"]["store_id"] = "store-b"  # the listing digest kept: only the key says "elsewhere"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    answer = clocked_stack.get(f"/api/background-jobs?store_id=store-a&limit=1&next_token={forged}", admin)
    assert_error(answer, 400, "invalid_next_token")


def test_a_store_owner_cannot_use_an_admins_token_for_their_store_listing(clocked_stack: Stack, admin: str) -> None:
    two_jobs_in_each_of_two_stores(clocked_stack, admin)
    all_jobs = first_token(clocked_stack, admin, "/api/background-jobs?limit=1")
    owner = token("store_owner", stores=["store-a"], sub="owner-a")
    answer = clocked_stack.get(f"/api/background-jobs?store_id=store-a&limit=1&next_token={all_jobs}", owner)
    assert_error(answer, 400, "invalid_next_token")
