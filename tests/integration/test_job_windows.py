"""Debounce, dedup windows and start deadlines, end to end on moto with the real workers.

One ManualClock drives the API, the workers and SQS's timers (delays, visibility), so a window's
quiet time passes when the test advances the clock, never on a real wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import runtime
from chalicelib.auth import Principal, Role
from chalicelib.clock import ManualClock, from_iso, to_iso
from chalicelib.config import Settings
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import ScheduleJobRequest
from tests.conftest import T0, Stack, assert_error, built_stack, token
from tests.kit import at, create_cron, executions, sqs_follows, tick

SCHEDULE = "/api/background-jobs/schedule"
RECORD = "plugin:windows-test:record"
RUNS: list[tuple[str, dict[str, Any], datetime]] = []


class RecordRun(BaseJobHandler):
    """Notes each run: which job, with which payload, when."""

    def execute(self) -> dict[str, Any]:
        RUNS.append((self.job.id, dict(self.job.payload), runtime.current().clock.now()))
        if self.job.payload.get("fail"):
            raise RuntimeError("planned failure")
        return {"ok": True}


runtime.registry.register(RECORD, RecordRun)


@pytest.fixture
def timed(settings: Settings) -> Iterator[Stack]:
    RUNS.clear()
    clock = ManualClock(T0)
    with built_stack(settings, clock, clocked_pollers=True) as stack, sqs_follows(clock):
        yield stack


def post(stack: Stack, tok: str, **fields: Any) -> Any:
    body = {"type": RECORD, "storeId": "store-a", "payload": {}, **fields}
    return stack.post(SCHEDULE, body, tok)


def advance(stack: Stack, seconds: float) -> None:
    assert stack.clock is not None
    stack.clock.advance(seconds)


def drain(stack: Stack) -> None:
    for _ in range(3):
        stack.poller.drain()


# --- debounce --------------------------------------------------------------------------


def test_a_burst_collapses_into_one_run_with_the_latest_payload_after_the_quiet(timed: Stack, admin: str) -> None:
    debounce = {"key": "product-42", "seconds": 5, "max_wait_seconds": 60}
    first = post(timed, admin, payload={"n": 0}, debounce=debounce)
    assert first.status_code == 201, first.json_body
    assert (first.json_body["created"], first.json_body["debounced"]) == (True, False)
    job_id = first.json_body["job"]["id"]
    for n in range(1, 4):
        advance(timed, 2)
        again = post(timed, admin, payload={"n": n}, debounce=debounce)
        assert again.status_code == 200, again.json_body
        assert again.json_body["job"]["id"] == job_id
        assert (again.json_body["created"], again.json_body["debounced"]) == (False, True)
    # The last schedule came at +6 s: quiet from then on, the run is due at +11 s.
    assert timed.job(job_id).scheduled_at == to_iso(T0 + timedelta(seconds=11))
    advance(timed, 3)  # +9 s: the first message (sent for +5 s) arrives early and is hidden again
    drain(timed)
    assert RUNS == []
    assert timed.job(job_id).status == JobStatus.PENDING
    advance(timed, 3)  # the hidden message is back a moment after +11 s
    drain(timed)
    assert [(run[0], run[1]) for run in RUNS] == [(job_id, {"n": 3})]
    assert RUNS[0][2] >= T0 + timedelta(seconds=11)
    done = timed.job(job_id)
    assert done.status == JobStatus.COMPLETED
    assert done.debounce_count == 3


def test_a_window_never_waits_past_max_wait(timed: Stack, admin: str) -> None:
    debounce = {"key": "k", "seconds": 5, "max_wait_seconds": 10}
    job_id = post(timed, admin, debounce=debounce).json_body["job"]["id"]
    for _ in range(2):
        advance(timed, 3)
        post(timed, admin, debounce=debounce)
    # Quiet from +6 s would make +11 s; the window opened at 0 and waits at most 10 s.
    assert timed.job(job_id).scheduled_at == to_iso(T0 + timedelta(seconds=10))
    drain(timed)
    assert RUNS == []
    advance(timed, 5)
    drain(timed)
    assert [run[0] for run in RUNS] == [job_id]
    assert RUNS[0][2] >= T0 + timedelta(seconds=10)


def test_a_schedule_after_the_run_started_opens_a_new_window(timed: Stack, admin: str) -> None:
    debounce = {"key": "k", "seconds": 2}
    first = post(timed, admin, payload={"n": 1}, debounce=debounce).json_body["job"]["id"]
    advance(timed, 2)
    drain(timed)
    assert [run[0] for run in RUNS] == [first]
    second = post(timed, admin, payload={"n": 2}, debounce=debounce)
    assert second.status_code == 201
    assert second.json_body["job"]["id"] != first
    advance(timed, 2)
    drain(timed)
    assert [run[1] for run in RUNS] == [{"n": 1}, {"n": 2}]


def test_five_hundred_schedules_of_one_key_make_exactly_one_run(timed: Stack, admin: str) -> None:
    debounce = {"key": "product.updated:42", "seconds": 5, "max_wait_seconds": 120}
    answers = []
    for n in range(500):
        answers.append(post(timed, admin, payload={"n": n}, debounce=debounce))
        if n % 50 == 49:
            advance(timed, 1)  # a burst over ten seconds: never five quiet ones
    assert [a.status_code for a in answers].count(201) == 1
    assert {a.json_body["job"]["id"] for a in answers} == {answers[0].json_body["job"]["id"]}
    advance(timed, 5)
    drain(timed)
    advance(timed, 60)
    drain(timed)
    assert [(run[0], run[1]) for run in RUNS] == [(answers[0].json_body["job"]["id"], {"n": 499})]
    assert timed.job(answers[0].json_body["job"]["id"]).debounce_count == 499


def test_concurrent_schedules_on_several_instances_collapse_into_one_job(settings: Settings) -> None:
    with built_stack(settings) as stack:
        admin = Principal(role=Role.ADMIN, subject="admin", stores=frozenset())
        request = ScheduleJobRequest.model_validate(
            {"type": RECORD, "store_id": "store-a", "debounce": {"key": "race", "seconds": 30}}
        )
        barrier = threading.Barrier(8)
        ids: list[str] = []

        def schedule() -> None:
            # Each thread is an API instance of its own: its own runtime, the same tables.
            barrier.wait()
            ids.append(stack.runtime.jobs.schedule(request, admin).job.id)

        threads = [threading.Thread(target=schedule) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(ids) == 8
        assert len(set(ids)) == 1
        job = stack.runtime.store.get(ids[0])
        assert job is not None and job.debounce_count == 7


def test_a_debounce_key_of_one_store_never_collapses_another_stores_schedule(timed: Stack, admin: str) -> None:
    debounce = {"key": "same", "seconds": 5}
    a = post(timed, admin, debounce=debounce)
    b = post(timed, admin, storeId="store-b", debounce=debounce)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json_body["job"]["id"] != b.json_body["job"]["id"]


@pytest.mark.parametrize(
    ("debounce", "field"),
    [
        ({"key": "k", "seconds": 0}, "debounce.seconds"),
        ({"key": "k", "seconds": 901}, "debounce.seconds"),
        ({"key": "k", "seconds": True}, "debounce.seconds"),
        ({"key": "k", "seconds": 10, "max_wait_seconds": 9}, "debounce"),
        ({"key": "k", "seconds": 10, "max_wait_seconds": 86401}, "debounce.max_wait_seconds"),
        ({"key": "", "seconds": 5}, "debounce.key"),
        ({"key": "k" * 201, "seconds": 5}, "debounce.key"),
        ({"key": "a\nb", "seconds": 5}, "debounce.key"),
        ({"seconds": 5}, "debounce.key"),
        ({"key": "k", "seconds": 5, "extra": 1}, "debounce.extra"),
    ],
)
def test_a_bad_debounce_is_a_400_naming_the_field(
    stack: Stack, admin: str, debounce: dict[str, Any], field: str
) -> None:
    body = assert_error(post(stack, admin, debounce=debounce), 400, "validation_error")
    assert body["details"][0]["field"] == field, body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"debounce": {"key": "k", "seconds": 5}, "dedup": {"key": "k", "seconds": 5}}, "dedup"),
        ({"debounce": {"key": "k", "seconds": 5}, "delay": 10}, "debounce"),
        ({"debounce": {"key": "k", "seconds": 5}, "idempotency_key": "i"}, "idempotency_key"),
        ({"dedup": {"key": "k", "seconds": 5}, "idempotency_key": "i"}, "idempotency_key"),
        ({"dedup": {"key": "k", "seconds": 0}}, "dedup.seconds"),
        ({"expire_after_seconds": 5, "expires_at": "2030-01-01T00:00:00Z"}, "expires_at"),
        ({"expire_after_seconds": 0}, "expire_after_seconds"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ],
)
def test_conflicting_or_impossible_window_fields_are_a_400(
    stack: Stack, admin: str, fields: dict[str, Any], field: str
) -> None:
    body = assert_error(post(stack, admin, **fields), 400, "validation_error")
    assert body["details"][0]["field"] == field, body


# --- dedup -----------------------------------------------------------------------------


def test_a_dedup_window_answers_with_its_first_job_even_finished(timed: Stack, admin: str) -> None:
    dedup = {"key": "order-7", "seconds": 600}
    first = post(timed, admin, payload={"n": 1}, dedup=dedup)
    assert first.status_code == 201
    job_id = first.json_body["job"]["id"]
    drain(timed)
    assert timed.job(job_id).status == JobStatus.COMPLETED
    advance(timed, 599)
    again = post(timed, admin, payload={"n": 2}, dedup=dedup)
    assert again.status_code == 200
    assert again.json_body["job"]["id"] == job_id
    assert again.json_body["deduplicated"] is True
    assert again.json_body["job"]["payload"] == {"n": 1}  # the new payload is ignored
    advance(timed, 1)  # the window has ended: a new one opens
    later = post(timed, admin, payload={"n": 3}, dedup=dedup)
    assert later.status_code == 201
    assert later.json_body["job"]["id"] != job_id
    drain(timed)
    assert [run[1] for run in RUNS] == [{"n": 1}, {"n": 3}]


def test_a_dedup_key_is_scoped_to_its_store(timed: Stack) -> None:
    both = token("store_owner", stores=["store-a", "store-b"])
    dedup = {"key": "same", "seconds": 60}
    a = post(timed, both, dedup=dedup)
    b = post(timed, both, storeId="store-b", dedup=dedup)
    assert (a.status_code, b.status_code) == (201, 201)


# --- expiry ----------------------------------------------------------------------------


def test_a_job_not_started_by_its_deadline_expires_and_never_runs(
    timed: Stack, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A paused store keeps it waiting, as a busy one would.
    answer = timed.post("/api/admin/stores/store-a/pause", {}, admin)
    assert answer.status_code == 200
    job_id = post(timed, admin, expire_after_seconds=30).json_body["job"]["id"]
    assert timed.job(job_id).start_by == to_iso(T0 + timedelta(seconds=30))
    drain(timed)
    advance(timed, 31)
    assert timed.post("/api/admin/stores/store-a/resume", {}, admin).status_code == 200
    for _ in range(3):
        advance(timed, 31)
        drain(timed)
    expired = timed.get(f"/api/background-jobs/{job_id}/status", admin).json_body["job"]
    assert expired["status"] == "expired"
    assert expired["error"].startswith("expired: not started by")
    assert RUNS == []
    listed = timed.get("/api/background-jobs?store_id=store-a&status=expired", admin).json_body["jobs"]
    assert [job["id"] for job in listed] == [job_id]
    assert '"JobsExpired":[1.0]' in capsys.readouterr().out


def test_a_retry_after_the_deadline_expires(timed: Stack, admin: str) -> None:
    at = to_iso(T0 + timedelta(seconds=20))
    job_id = post(timed, admin, payload={"fail": True}, maxRetries=0, expires_at=at).json_body["job"]["id"]
    drain(timed)
    assert timed.job(job_id).status == JobStatus.FAILED
    advance(timed, 20)
    assert timed.post(f"/api/background-jobs/{job_id}/retry", {}, admin).status_code == 202
    drain(timed)
    assert timed.job(job_id).status == JobStatus.EXPIRED
    assert len(RUNS) == 1


def test_an_automatic_retry_past_the_deadline_expires(timed: Stack, admin: str, monkeypatch: Any) -> None:
    timed.configure(monkeypatch, backoff_s=(60,))
    job_id = post(timed, admin, payload={"fail": True}, maxRetries=2, expire_after_seconds=30).json_body["job"]["id"]
    drain(timed)
    assert timed.job(job_id).status == JobStatus.RETRYING
    advance(timed, 61)
    drain(timed)
    assert timed.job(job_id).status == JobStatus.EXPIRED
    assert len(RUNS) == 1


def test_the_claim_itself_refuses_an_expired_job(timed: Stack, admin: str) -> None:
    job_id = post(timed, admin, expire_after_seconds=10).json_body["job"]["id"]
    store = timed.runtime.store
    late = to_iso(T0 + timedelta(seconds=10))
    with pytest.raises(Exception) as refused:
        store.claim_due(job_id, lease_token="t", now=late, lease_until=late, due_by=late)
    assert type(refused.value).__name__ == "ClaimRefusedError"
    job = store.get(job_id)
    assert job is not None
    with pytest.raises(Exception) as again:
        store.claim(job, lease_token="t", now=late, lease_until=late)
    assert type(again.value).__name__ == "StaleWriteError"
    assert from_iso(store.get(job_id).start_by) == T0 + timedelta(seconds=10)  # type: ignore[union-attr]


def test_a_cron_jobs_runs_carry_its_deadline_and_a_late_one_expires(timed: Stack, admin: str) -> None:
    cron = create_cron(timed, admin, job_type=RECORD, expire_after_seconds=90)
    assert cron["expire_after_seconds"] == 90
    tick(timed, at(5))
    [run] = executions(timed, cron["id"])
    assert run.start_by == to_iso(at(5) + timedelta(seconds=90))
    # No worker reached it within 90 s of its slot (a flash sale's window is over): not run late.
    advance(timed, 91)
    drain(timed)
    [run] = executions(timed, cron["id"])
    assert run.status == JobStatus.EXPIRED
    assert RUNS == []
    counted = timed.get(f"/api/cron-jobs/{cron['id']}", admin).json_body["job"]
    assert (counted["skipped_count"], counted["failure_count"], counted["last_status"]) == (1, 0, "expired")
    cleared = timed.client.http.request(
        "PATCH",
        f"/api/cron-jobs/{cron['id']}",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
        body=b'{"expire_after_seconds": null}',
    )
    assert cleared.status_code == 200, cleared.json_body
    assert cleared.json_body["job"]["expire_after_seconds"] is None


def test_plugin_code_debounces_through_the_job_manager(timed: Stack) -> None:
    manager = runtime.job_manager
    debounce = {"key": "product-9", "seconds": 5}
    first = manager.schedule_job(type=RECORD, store_id="store-a", payload={"n": 1}, debounce=debounce)
    second = manager.schedule_job(
        type=RECORD, store_id="store-a", payload={"n": 2}, debounce=debounce, expire_after_seconds=600
    )
    assert first.id == second.id
    assert second.payload == {"n": 2}
    assert second.start_by is None  # the window's job keeps what its first schedule gave, but the payload


def test_a_collapsed_run_acts_with_the_rights_of_whoever_gave_its_payload(timed: Stack, admin: str) -> None:
    owner = token("store_owner", stores=["store-a"], sub="owner-a")
    debounce = {"key": "k", "seconds": 5}
    job_id = post(timed, admin, payload={"by": "admin"}, debounce=debounce).json_body["job"]["id"]
    assert timed.job(job_id).rights.role == Role.ADMIN
    assert post(timed, owner, payload={"by": "owner"}, debounce=debounce).json_body["job"]["id"] == job_id
    job = timed.job(job_id)
    assert job.payload == {"by": "owner"}
    assert (job.rights.role, job.rights.subject, job.created_by) == (Role.STORE_OWNER, "owner-a", "store_owner:owner-a")


def test_a_debounced_jobs_relative_deadline_counts_from_its_windows_latest_start(timed: Stack, admin: str) -> None:
    debounce = {"key": "k", "seconds": 5, "max_wait_seconds": 30}
    job_id = post(timed, admin, debounce=debounce, expire_after_seconds=10).json_body["job"]["id"]
    assert timed.job(job_id).start_by == to_iso(T0 + timedelta(seconds=40))
    for _ in range(4):  # a burst pushes the start to +25 s, past 10 s after the first quiet moment
        advance(timed, 5)
        post(timed, admin, debounce=debounce)
    advance(timed, 6)
    drain(timed)
    assert timed.job(job_id).status == JobStatus.COMPLETED


def test_a_schedule_while_the_run_waits_for_its_retry_opens_a_new_window(
    timed: Stack, admin: str, monkeypatch: Any
) -> None:
    timed.configure(monkeypatch, backoff_s=(60,))
    debounce = {"key": "k", "seconds": 2}
    first = post(timed, admin, payload={"fail": True}, maxRetries=1, debounce=debounce).json_body["job"]["id"]
    advance(timed, 2)
    drain(timed)
    assert timed.job(first).status == JobStatus.RETRYING  # it started: its window is over
    second = post(timed, admin, payload={"n": 2}, debounce=debounce)
    assert second.status_code == 201
    assert second.json_body["job"]["id"] != first
    assert timed.job(first).payload == {"fail": True}
