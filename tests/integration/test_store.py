"""Contract tests for the DynamoDB job repository, against moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.provision import ensure_table
from chalicelib.errors import StaleWriteError
from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.model import Job
from chalicelib.jobs.store import (
    CancelAcknowledgedError,
    ClaimRefusedError,
    DynamoJobStore,
    ItemTooLargeError,
    JobExistsError,
    JobFilter,
    jobs_table_definition,
)

NOW = "2026-11-28T12:00:00.000000Z"
LATER = "2026-11-28T12:00:30.000000Z"


@pytest.fixture
def store() -> Iterator[DynamoJobStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        ensure_table(client, jobs_table_definition("jobs"))
        yield DynamoJobStore(boto3.resource("dynamodb", region_name="us-east-1").Table("jobs"))


def new_job(job_id: str, *, store_id: str = "s1", created: str = NOW, scheduled: str = NOW, **fields: object) -> Job:
    return Job(
        id=job_id,
        type="plugin:t:x",
        priority=Priority.NORMAL,
        status=JobStatus.PENDING,
        store_id=store_id,
        created_at=created,
        updated_at=created,
        scheduled_at=scheduled,
        payload={"price": 9.99, "nested": {"list": [1, 2.5, None]}},
        **fields,  # type: ignore[arg-type]
    )


def test_a_job_round_trips_with_floats_and_nesting_intact(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    assert store.get("j1") == new_job("j1")


def test_creating_an_existing_id_is_refused_and_keeps_the_first(store: DynamoJobStore) -> None:
    store.create(new_job("j1", user_id="first"))
    with pytest.raises(JobExistsError):
        store.create(new_job("j1", user_id="second"))
    assert store.get("j1").user_id == "first"  # type: ignore[union-attr]


def test_claim_due_takes_a_due_job_once(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    claimed = store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    assert (claimed.status, claimed.attempts, claimed.lease_token) == (JobStatus.RUNNING, 1, "a")
    with pytest.raises(ClaimRefusedError) as refused:
        store.claim_due("j1", lease_token="b", now=NOW, lease_until=LATER, due_by=NOW)
    assert refused.value.current is not None
    assert refused.value.current.lease_token == "a"


def test_claim_due_refuses_a_job_not_yet_due_and_says_what_it_is(store: DynamoJobStore) -> None:
    store.create(new_job("j1", scheduled="2026-11-28T13:00:00.000000Z"))
    with pytest.raises(ClaimRefusedError) as refused:
        store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    assert refused.value.current is not None and refused.value.current.status == JobStatus.PENDING


def test_claim_due_on_a_missing_job_reports_none(store: DynamoJobStore) -> None:
    with pytest.raises(ClaimRefusedError) as refused:
        store.claim_due("nope", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    assert refused.value.current is None


def test_only_the_lease_holder_may_record_progress_or_finish(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    with pytest.raises(StaleWriteError):
        store.heartbeat("j1", lease_token="b", now=NOW, progress=50)
    with pytest.raises(StaleWriteError):
        store.finish("j1", lease_token="b", status=JobStatus.COMPLETED, now=NOW)
    done = store.finish("j1", lease_token="a", status=JobStatus.COMPLETED, now=NOW, result={"ok": 1})
    assert done.status == JobStatus.COMPLETED and done.lease_token is None
    with pytest.raises(StaleWriteError):  # a duplicate finish cannot complete it again
        store.finish("j1", lease_token="a", status=JobStatus.FAILED, now=NOW)


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.RETRYING, JobStatus.FAILED])
def test_a_finish_given_the_claimed_job_answers_exactly_what_was_stored(
    store: DynamoJobStore, status: JobStatus
) -> None:
    store.create(new_job("j1"))
    store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    beat = store.heartbeat("j1", lease_token="a", now=NOW, progress=40, checkpoint={"at": 4})
    finished = store.finish(
        "j1",
        lease_token="a",
        status=status,
        now=LATER,
        result={"ok": 1},
        error="boom" if status != JobStatus.COMPLETED else None,
        logs=["one", "two"],
        progress=100 if status == JobStatus.COMPLETED else None,
        next_attempt_at=LATER if status == JobStatus.RETRYING else None,
        latest=beat,  # DynamoDB sends back only what the finish changed
    )
    stored = store.get("j1")
    assert stored is not None
    assert finished == stored
    assert finished.lease_token is None and finished.status == status


def cancelling(store: DynamoJobStore, job_id: str) -> Job:
    """A job claimed under lease "a", then cancelled while it runs (the API acknowledged it)."""
    store.create(new_job(job_id))
    running = store.claim_due(job_id, lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    return store.transition(running, JobStatus.CANCELLING, now=NOW)


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.RETRYING, JobStatus.FAILED])
def test_an_acknowledged_cancel_lets_the_attempt_end_only_as_cancelled(
    store: DynamoJobStore, status: JobStatus
) -> None:
    asked = cancelling(store, "j1")
    with pytest.raises(CancelAcknowledgedError) as refused:
        store.finish("j1", lease_token="a", status=status, now=LATER, result={"ok": 1}, next_attempt_at=LATER)
    assert refused.value.current == asked
    assert store.get("j1") == asked  # the refused end changed nothing
    with pytest.raises(StaleWriteError) as stale:  # another lease: lost, not acknowledged
        store.finish("j1", lease_token="b", status=status, now=LATER)
    assert not isinstance(stale.value, CancelAcknowledgedError)
    ended = store.finish("j1", lease_token="a", status=JobStatus.CANCELLED, now=LATER, error="cancelled")
    assert ended.status == JobStatus.CANCELLED and ended.lease_token is None


def test_a_cancelling_run_is_not_put_back_to_wait_nor_suspended(store: DynamoJobStore) -> None:
    asked = cancelling(store, "j1")
    with pytest.raises(CancelAcknowledgedError):
        store.release(asked, lease_token="a", now=LATER, not_before=LATER)
    with pytest.raises(CancelAcknowledgedError):
        store.suspend("j1", lease_token="a", now=LATER, checkpoint={"at": 1})
    assert store.get("j1") == asked


def test_a_write_refused_for_size_changes_nothing(store: DynamoJobStore) -> None:
    store.create(new_job("j1", metadata={"pad": "p" * 150_000}))
    running = store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    with pytest.raises(ItemTooLargeError):
        store.finish("j1", lease_token="a", status=JobStatus.COMPLETED, now=LATER, result={"r": "r" * 300_000})
    assert store.get("j1") == running  # all or nothing, as in DynamoDB (moto is patched to agree)


def test_a_transition_from_a_stale_read_is_refused(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    read = store.get("j1")
    assert read is not None
    store.transition(read, JobStatus.CANCELLED, now=NOW)
    with pytest.raises(StaleWriteError):
        store.transition(read, JobStatus.CANCELLED, now=NOW)


def test_a_store_listing_pages_newest_first_and_returns_every_job_once(store: DynamoJobStore) -> None:
    for n in range(25):
        store.create(new_job(f"j{n:02d}", created=f"2026-11-28T12:00:{n:02d}.000000Z"))
    store.create(new_job("other", store_id="s2"))
    seen: list[str] = []
    token = None
    while True:
        page = store.list(JobFilter(store_id="s1"), limit=10, next_token=token)
        seen.extend(job.id for job in page.jobs)
        token = page.next_token
        if token is None:
            break
    assert seen == [f"j{n:02d}" for n in reversed(range(25))]


def test_a_filtered_listing_skips_nothing_across_pages(store: DynamoJobStore) -> None:
    for n in range(30):
        job = new_job(f"j{n:02d}", created=f"2026-11-28T12:00:{n:02d}.000000Z")
        store.create(job)
        if n % 3 == 0:
            store.transition(job, JobStatus.CANCELLED, now=NOW)
    seen: list[str] = []
    token = None
    for _ in range(20):
        page = store.list(JobFilter(store_id="s1", status=JobStatus.CANCELLED), limit=4, next_token=token)
        seen.extend(job.id for job in page.jobs)
        token = page.next_token
        if token is None:
            break
    assert seen == [f"j{n:02d}" for n in reversed(range(30)) if n % 3 == 0]


def test_counts_by_status_per_store_and_overall(store: DynamoJobStore) -> None:
    store.create(new_job("a1"))
    store.create(new_job("a2"))
    store.create(new_job("b1", store_id="s2"))
    store.transition(store.get("a2"), JobStatus.CANCELLED, now=NOW)  # type: ignore[arg-type]
    assert store.count_by_status(["s1"]).counts["pending"] == 1
    assert store.count_by_status(["s1"]).counts["cancelled"] == 1
    assert store.count_by_status(None).counts["pending"] == 2
