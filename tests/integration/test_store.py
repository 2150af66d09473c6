"""Contract tests for the DynamoDB job repository, against moto's DynamoDB."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.errors import BadRequestError, StaleWriteError
from chalicelib.jobs.finished import FinishedJobs
from chalicelib.jobs.lifecycle import JobStatus, Priority
from chalicelib.jobs.model import Job, job_to_item
from chalicelib.jobs.shards import STATUS_SHARDS, shard_of, status_shard
from chalicelib.jobs.store import (
    CancelAcknowledgedError,
    ClaimRefusedError,
    DynamoJobStore,
    ItemTooLargeError,
    JobExistsError,
    JobFilter,
)
from tests.kit import bare_store

NOW = "2026-11-28T12:00:00.000000Z"
LATER = "2026-11-28T12:00:30.000000Z"


@pytest.fixture
def store() -> Iterator[DynamoJobStore]:
    with mock_aws():
        yield bare_store()


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
        log_lines=2,
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
        store.heartbeat("j1", lease_token="a", now=LATER, progress=5, progress_message="m" * 300_000)
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


# --- the sharded status index ------------------------------------------------------------


def one_id_per_shard(prefix: str) -> list[str]:
    """An id in each shard of the status index, shard 0 first."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < STATUS_SHARDS:
        found.setdefault(shard_of(f"{prefix}{n}"), f"{prefix}{n}")
        n += 1
    return [found[shard] for shard in range(STATUS_SHARDS)]


def at_second(n: int) -> str:
    return f"2026-11-28T12:{n // 60:02d}:{n % 60:02d}.000000Z"


def list_status(store: DynamoJobStore, status: JobStatus, *, limit: int, **filters: str) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        page = store.list(JobFilter(status=status, **filters), limit=limit, next_token=token)  # type: ignore[arg-type]
        assert len(page.jobs) <= limit
        pages.append([job.id for job in page.jobs])
        token = page.next_token
        if token is None:
            return pages
        assert len(pages) < 200


def test_every_write_that_sets_a_status_moves_its_shard_key(store: DynamoJobStore) -> None:
    store.create(new_job("j1"))
    item = store._table.get_item(Key={"id": "j1"})["Item"]
    assert item["status_shard"] == status_shard("pending", "j1")
    store.claim_due("j1", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)
    assert store._table.get_item(Key={"id": "j1"})["Item"]["status_shard"] == status_shard("running", "j1")
    store.finish("j1", lease_token="a", status=JobStatus.RETRYING, now=NOW, next_attempt_at=NOW)
    assert store._table.get_item(Key={"id": "j1"})["Item"]["status_shard"] == status_shard("retrying", "j1")
    store.transition(store.get("j1"), JobStatus.CANCELLED, now=NOW)  # type: ignore[arg-type]
    assert store._table.get_item(Key={"id": "j1"})["Item"]["status_shard"] == status_shard("cancelled", "j1")


def test_a_status_listing_is_newest_first_across_every_shard(store: DynamoJobStore) -> None:
    ids = one_id_per_shard("a") + one_id_per_shard("b")
    for n, job_id in enumerate(ids):
        store.create(new_job(job_id, created=at_second(n)))
    store.create(new_job("other-status", created=at_second(99)))
    store.transition(store.get("other-status"), JobStatus.CANCELLED, now=NOW)  # type: ignore[arg-type]
    (page,) = list_status(store, JobStatus.PENDING, limit=100)
    assert page == list(reversed(ids))


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_status_pages_cross_shards_and_return_every_job_once(store: DynamoJobStore, limit: int) -> None:
    ids = one_id_per_shard("p")
    # Shards of very different sizes, interleaved in time.
    jobs = [job_id for n, job_id in enumerate(ids) for _ in range(1 + n % 3)]
    created = [f"{job_id}-{k}" for k, job_id in enumerate(jobs)]
    for n, job_id in enumerate(created):
        store.create(new_job(job_id, created=at_second(n)))
    pages = list_status(store, JobStatus.PENDING, limit=limit)
    assert [job_id for page in pages for job_id in page] == list(reversed(created))


def test_a_filtered_status_listing_skips_nothing_across_shards(store: DynamoJobStore) -> None:
    ids = one_id_per_shard("f")
    for n, job_id in enumerate(ids):
        store.create(new_job(job_id, created=at_second(n), plugin_id="mine" if n % 3 == 0 else "theirs"))
    pages = list_status(store, JobStatus.PENDING, limit=2, plugin_id="mine")
    assert [job_id for page in pages for job_id in page] == [j for n, j in reversed(list(enumerate(ids))) if n % 3 == 0]


def test_a_status_token_is_refused_by_another_status_or_filter(store: DynamoJobStore) -> None:
    for job_id in one_id_per_shard("t"):
        store.create(new_job(job_id))
    token = store.list(JobFilter(status=JobStatus.PENDING), limit=2, next_token=None).next_token
    assert token is not None
    for other in (JobFilter(status=JobStatus.FAILED), JobFilter(status=JobStatus.PENDING, type="x"), JobFilter()):
        with pytest.raises(BadRequestError):
            store.list(other, limit=2, next_token=token)


def test_sweeps_find_lapsed_and_overdue_jobs_in_every_shard(store: DynamoJobStore) -> None:
    running, waiting = one_id_per_shard("r"), one_id_per_shard("w")
    for job_id in running + waiting:
        store.create(new_job(job_id))
    for job_id in running:
        store.claim_due(job_id, lease_token="a", now=NOW, lease_until=NOW, due_by=NOW)
    lapsed = store.expired_leases(LATER, limit=100)
    assert sorted(job.id for job in lapsed) == sorted(running)
    overdue = store.overdue_unclaimed(LATER, priorities=["normal"], limit=100)
    assert sorted(job.id for job in overdue) == sorted(waiting)


def test_a_bounded_sweep_takes_from_every_shard_in_turn(store: DynamoJobStore) -> None:
    ids = one_id_per_shard("x") + one_id_per_shard("y")
    for job_id in ids:
        store.create(new_job(job_id))
    found = store.overdue_unclaimed(LATER, priorities=["normal"], limit=STATUS_SHARDS)
    assert sorted(shard_of(job.id) for job in found) == list(range(STATUS_SHARDS))


def test_cleanup_finds_old_finished_jobs_in_every_shard_oldest_first(store: DynamoJobStore) -> None:
    ids = one_id_per_shard("c")
    for n, job_id in enumerate(ids):
        job = new_job(job_id, created=at_second(n))
        store.create(job)
        store.transition(job, JobStatus.CANCELLED, now=at_second(n))
    finished = FinishedJobs(store._table, store)
    found = finished.older_than(JobStatus.CANCELLED, "2026-11-29T00:00:00.000000Z", limit=100)
    assert [item["id"] for item in found] == ids
    assert [item["id"] for item in finished.older_than(JobStatus.CANCELLED, at_second(99), limit=5)] == ids[:5]


def test_counts_over_every_shard_are_exact(store: DynamoJobStore) -> None:
    for job_id in one_id_per_shard("n"):
        store.create(new_job(job_id))
    for job_id in one_id_per_shard("m")[:5]:
        store.create(new_job(job_id, store_id="s2"))
        store.transition(store.get(job_id), JobStatus.CANCELLED, now=NOW)  # type: ignore[arg-type]
    everyone = store.count_by_status(None)
    assert everyone.exact and (everyone.counts["pending"], everyone.counts["cancelled"]) == (STATUS_SHARDS, 5)


# --- jobs stored before the sharding --------------------------------------------------------


def store_unsharded(store: DynamoJobStore, job: Job) -> None:
    """A job as the release before the sharding wrote it: no status_shard."""
    store._table.put_item(Item=job_to_item(job))


def test_an_unsharded_job_is_read_and_its_next_move_keys_it(store: DynamoJobStore) -> None:
    store_unsharded(store, new_job("old"))
    assert store.list(JobFilter(status=JobStatus.PENDING), limit=10, next_token=None).jobs == []
    claimed = store.claim_due("old", lease_token="a", now=NOW, lease_until=NOW, due_by=NOW)
    assert claimed.status == JobStatus.RUNNING
    assert [job.id for job in store.expired_leases(LATER, limit=10)] == ["old"]


def test_the_backfill_keys_old_jobs_and_skips_keyed_ones(store: DynamoJobStore) -> None:
    old = one_id_per_shard("o")
    for job_id in old:
        store_unsharded(store, new_job(job_id))
    store.create(new_job("new"))
    store._table.put_item(Item={"id": "ratelimit#s1#202611281200", "count": 3})  # not a job
    report = store.backfill_status_shards(page_size=5)
    assert (report.scanned, report.written, report.moved) == (STATUS_SHARDS + 1, STATUS_SHARDS, 0)
    listed = store.list(JobFilter(status=JobStatus.PENDING), limit=100, next_token=None).jobs
    assert sorted(job.id for job in listed) == sorted([*old, "new"])
    again = store.backfill_status_shards()
    assert again.written == 0
    assert store.get(old[0]).version == new_job(old[0]).version  # type: ignore[union-attr]  # no state changed


def test_the_backfill_leaves_a_job_that_moved_since_the_scan(store: DynamoJobStore) -> None:
    store_unsharded(store, new_job("moving"))
    table = store._table
    real_scan = table.scan

    def scan_then_move(**request: object) -> dict[str, object]:
        page = real_scan(**request)
        store.claim_due("moving", lease_token="a", now=NOW, lease_until=LATER, due_by=NOW)  # between scan and write
        return page

    store._table = type("Racing", (), {"scan": staticmethod(scan_then_move), "update_item": table.update_item})()
    report = store.backfill_status_shards()
    store._table = table
    assert (report.written, report.moved) == (0, 1)
    assert table.get_item(Key={"id": "moving"})["Item"]["status_shard"] == status_shard("running", "moving")


def test_the_cli_backfill_keys_old_jobs_of_the_configured_table(
    store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devstack import cli

    store_unsharded(store, new_job("old"))
    monkeypatch.setenv("TICKWORK_JOBS_TABLE", "jobs")
    out = io.StringIO()
    assert cli.main(["backfill-status-shards"], out=out) == 0
    assert "1 jobs scanned, 1 keyed" in out.getvalue()
    assert [job.id for job in store.list(JobFilter(status=JobStatus.PENDING), limit=5, next_token=None).jobs] == ["old"]
