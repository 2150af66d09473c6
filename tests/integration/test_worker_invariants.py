"""The worker's invariants (docs/state-machines.md) against moto's SQS and DynamoDB, through the Lambda handlers."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import timedelta
from unittest.mock import ANY

import pytest

from chalicelib.clock import from_iso, to_iso
from chalicelib.config import Settings
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack, built_stack
from tests.kit import T0_PLUS, drain_until, duplicate_message, queue_url, visible_messages


def test_a_duplicate_delivery_never_completes_a_job_twice(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    duplicate_message(stack, job["id"])
    duplicate_message(stack, job["id"])
    stack.poller.drain()
    assert handlers.completions[job["id"]] == 1
    assert stack.job(job["id"]).status == JobStatus.COMPLETED
    assert visible_messages(stack) == 0
    assert visible_messages(stack, "normal-dlq") == 0  # duplicates are acknowledged, not parked


def test_a_second_worker_finds_the_job_held_and_leaves_it_to_the_first(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:gated", payload={})
    duplicate_message(stack, job["id"])
    handlers.gates[job["id"]] = threading.Event()
    handlers.entered[job["id"]] = threading.Event()
    first = threading.Thread(target=stack.poller.poll_once)
    first.start()
    assert handlers.entered[job["id"]].wait(5)
    # The second copy arrives while the first worker runs the job: it must not start it.
    stack.poller.poll_once()
    assert stack.job(job["id"]).status == JobStatus.RUNNING
    handlers.gates[job["id"]].set()
    first.join(10)
    assert handlers.starts[job["id"]] == 1
    assert handlers.completions[job["id"]] == 1
    assert stack.job(job["id"]).status == JobStatus.COMPLETED
    # The held copy was put back for the length of the lease, not deleted and not run.
    assert visible_messages(stack) == 0


def test_the_local_poller_runs_a_second_batch_while_the_first_still_runs(stack: Stack, admin: str) -> None:
    held = stack.schedule(admin, type="plugin:test-kit:gated", payload={})
    handlers.gates[held["id"]] = threading.Event()
    handlers.entered[held["id"]] = threading.Event()
    stop = threading.Event()
    poller = threading.Thread(target=stack.poller.run, args=(stop, 2), daemon=True)
    poller.start()
    try:
        assert handlers.entered[held["id"]].wait(5)
        quick = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
        end = time.monotonic() + 10
        while stack.job(quick["id"]).status != JobStatus.COMPLETED:
            assert time.monotonic() < end, "the second batch waited for the first"
            time.sleep(0.05)
        assert stack.job(held["id"]).status == JobStatus.RUNNING  # as Lambda's concurrent invocations
    finally:
        handlers.gates[held["id"]].set()
        stop.set()
        poller.join(5)
    drain_until(stack, lambda: stack.job(held["id"]).status == JobStatus.COMPLETED)


def test_two_workers_racing_on_duplicates_run_each_job_to_completion_once(stack: Stack, admin: str) -> None:
    ids = [stack.schedule(admin, type="plugin:test-kit:flaky", payload={})["id"] for _ in range(20)]
    for job_id in ids:
        duplicate_message(stack, job_id)
    workers = [threading.Thread(target=stack.poller.drain) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    drain_until(stack, lambda: all(stack.job(i).status == JobStatus.COMPLETED for i in ids))
    assert [handlers.completions[i] for i in ids] == [1] * len(ids)


def test_a_failed_attempt_waits_as_retrying_then_succeeds(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={"failures": 2}, maxRetries=3)
    stack.poller.poll_once()
    between = stack.job(job["id"])
    assert between.status == JobStatus.RETRYING
    assert between.error == "RuntimeError: planned failure 1"
    assert between.next_attempt_at is not None
    drain_until(stack, lambda: stack.job(job["id"]).status == JobStatus.COMPLETED)
    done = stack.job(job["id"])
    assert done.attempts == 3
    assert done.result == {"attempt": 3}
    assert done.error is None


def test_a_job_out_of_retries_is_failed_and_its_message_deleted(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={"failures": 99}, maxRetries=2)
    drain_until(stack, lambda: stack.job(job["id"]).status == JobStatus.FAILED)
    failed = stack.job(job["id"])
    assert failed.attempts == 3
    assert failed.error == "RuntimeError: planned failure 3"
    assert handlers.starts[job["id"]] == 3
    assert visible_messages(stack) == 0
    assert any("attempt 3 failed" in line for line in failed.logs)


def test_backoff_keeps_the_message_invisible_until_the_retry_is_due(settings: Settings, admin: str) -> None:
    with built_stack(dataclasses.replace(settings, backoff_s=(5, 30, 300))) as stack:
        job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={"failures": 1})
        stack.poller.poll_once()
        retrying = stack.job(job["id"])
        assert retrying.status == JobStatus.RETRYING
        assert stack.poller.drain() == 0  # nothing visible during the 5 s backoff
        delay = from_iso(retrying.next_attempt_at) - from_iso(retrying.updated_at)
        assert 4.9 <= delay.total_seconds() <= 5.1


def test_a_worker_that_dies_mid_job_leaves_a_job_that_runs_again(settings: Settings, admin: str) -> None:
    with built_stack(dataclasses.replace(settings, lease_s=1)) as stack:
        job = stack.schedule(admin, type="plugin:test-kit:crash-once", payload={})
        with pytest.raises(handlers.SimulatedCrash):
            stack.poller.poll_once()
        crashed = stack.job(job["id"])
        assert crashed.status == JobStatus.RUNNING and crashed.attempts == 1
        drain_until(stack, lambda: stack.job(job["id"]).status == JobStatus.COMPLETED)
        assert stack.job(job["id"]).attempts == 2
        assert handlers.completions[job["id"]] == 1


def test_progress_is_written_at_most_once_a_second_and_the_last_report_by_the_finish(
    clocked_stack: Stack, admin: str
) -> None:
    stack = clocked_stack
    job = stack.schedule(admin, type="plugin:test-kit:progress-probe", payload={})
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED
    # The claim is the attempt's first write: 0 and 30 come within its second and wait; 40 comes
    # a second later and is written; 100 comes within that second and waits for the finish,
    # which writes it with its message: a job shorter than a second pays for no progress write.
    assert done.result == {"stored_after_each_report": [0, 0, 40, 40]}
    assert (done.progress, done.progress_message) == (100, "done")
    assert [line.split(" ", 1)[1] for line in done.logs] == [f"line {n}" for n in range(5)]


def test_cancelling_a_running_job_stops_it_at_its_next_written_progress_report(
    clocked_stack: Stack, admin: str
) -> None:
    stack = clocked_stack
    job = stack.schedule(admin, type="plugin:test-kit:cancellable", payload={})
    handlers.gates[job["id"]] = threading.Event()
    handlers.entered[job["id"]] = threading.Event()
    worker = threading.Thread(target=stack.poller.poll_once)
    worker.start()
    assert handlers.entered[job["id"]].wait(5)
    answer = stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin)
    assert answer.status_code == 200
    assert answer.json_body["job"]["status"] == "cancelling"
    # Steps 0-5 came within the claim's progress interval: none was written. The interval
    # passes while the handler waits, so step 6's report is written, and learns of the cancel.
    assert stack.clock is not None
    stack.clock.advance(stack.runtime.settings.progress_interval_s)
    handlers.gates[job["id"]].set()
    worker.join(10)
    cancelled = stack.job(job["id"])
    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.result == {"steps_done": 6}
    assert handlers.completions[job["id"]] == 0


def test_a_late_finish_after_a_lost_lease_keeps_the_new_attempt(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    store = stack.runtime.store
    first = store.claim(
        stack.job(job["id"]),
        lease_token="first",
        now="2026-11-28T12:00:00.000000Z",
        lease_until="2026-11-28T12:00:30.000000Z",
    )
    # The first worker stalls past its lease; a second takes the job over and completes it.
    second = store.claim(
        first, lease_token="second", now="2026-11-28T12:01:00.000000Z", lease_until="2026-11-28T12:01:30.000000Z"
    )
    store.finish(
        job["id"],
        lease_token="second",
        status=JobStatus.COMPLETED,
        now="2026-11-28T12:01:05.000000Z",
        result={"by": "second"},
    )
    from chalicelib.errors import StaleWriteError

    with pytest.raises(StaleWriteError):
        store.finish(
            job["id"],
            lease_token="first",
            status=JobStatus.COMPLETED,
            now="2026-11-28T12:01:06.000000Z",
            result={"by": "first"},
        )
    assert second.attempts == 2
    assert stack.job(job["id"]).result == {"by": "second"}


def test_a_message_for_a_job_not_yet_due_goes_back_without_running_it(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, delay=3600)
    duplicate_message(stack, job["id"])  # arrives long before its time
    stack.poller.drain()
    assert stack.job(job["id"]).status == JobStatus.PENDING
    assert handlers.starts[job["id"]] == 0
    assert visible_messages(stack) == 0


def test_a_message_just_ahead_of_its_job_is_held_until_the_job_is_due(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    due = stack.clock.now() + timedelta(milliseconds=600)  # type: ignore[union-attr]
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, run_at=to_iso(due))
    sqs = stack.session.client("sqs")
    [message] = sqs.receive_message(QueueUrl=queue_url(stack), VisibilityTimeout=0)["Messages"]
    # 0.6 s is sent as no delay (whole seconds, rounded down), with the time the job is due.
    body = json.loads(message["Body"])
    assert body == {"job_id": job["id"], "due_at": to_iso(due), "store_id": "store-a", "correlation_id": ANY}
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED
    # Neither 0.6 s early (claimed on arrival) nor up to a second late (delay rounded up).
    assert done.started_at == to_iso(due)


def test_a_message_without_a_due_time_never_runs_its_job_early(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    due = stack.clock.now() + timedelta(milliseconds=600)  # type: ignore[union-attr]
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, run_at=to_iso(due))
    sqs = stack.session.client("sqs")
    [sent] = sqs.receive_message(QueueUrl=queue_url(stack))["Messages"]
    sqs.delete_message(QueueUrl=queue_url(stack), ReceiptHandle=sent["ReceiptHandle"])
    duplicate_message(stack, job["id"])  # a bare message (a sweep's, an older sender's), 0.6 s early
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED
    assert done.started_at == to_iso(due) and done.attempts == 1


def test_unreadable_or_jobless_messages_go_to_the_dead_letter_queue(stack: Stack) -> None:
    sqs = stack.session.client("sqs")
    sqs.send_message(QueueUrl=queue_url(stack), MessageBody="not json at all")
    sqs.send_message(QueueUrl=queue_url(stack), MessageBody=json.dumps({"job_id": "no-such-job"}))
    assert stack.poller.drain() == 2
    dlq = sqs.get_queue_url(QueueName="tickwork-normal-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in parked) == [
        "job not found",
        "unreadable message body",
    ]
    assert visible_messages(stack) == 0


def test_a_job_whose_type_is_no_longer_registered_fails_with_the_reason(stack: Stack, admin: str) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    stack.runtime.store._table.update_item(
        Key={"id": job["id"]},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "type"},
        ExpressionAttributeValues={":t": "plugin:gone:away"},
    )
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "not registered" in (failed.error or "")


def test_urgent_jobs_are_served_before_normal_and_low(stack: Stack, admin: str) -> None:
    ids = {
        p: stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, priority=p)["id"]
        for p in ("low", "normal", "high", "urgent")
    }
    stack.poller.drain()
    finished = sorted(ids, key=lambda p: stack.job(ids[p]).completed_at or "")
    assert finished == ["urgent", "high", "normal", "low"]


def test_an_attempt_past_its_timeout_fails_as_timed_out_at_its_next_report(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    job = stack.schedule(admin, type="plugin:test-kit:overrun", payload={}, timeout_seconds=25, maxRetries=0)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert failed.error == "JobTimedOut: the attempt ran past its timeout of 25 s"
    assert handlers.completions[job["id"]] == 0


def test_the_tick_requeues_a_running_job_without_worker_or_message(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    sqs = stack.session.client("sqs")
    message = sqs.receive_message(QueueUrl=queue_url(stack), MaxNumberOfMessages=1)["Messages"][0]
    store = stack.runtime.store
    store.claim_due(
        job["id"],
        lease_token="gone",
        now="2026-11-28T12:00:00.000000Z",
        lease_until="2026-11-28T12:01:00.000000Z",
        due_by="2026-11-28T12:00:00.000000Z",
    )
    sqs.delete_message(QueueUrl=queue_url(stack), ReceiptHandle=message["ReceiptHandle"])  # deleted by mistake
    assert stack.runtime.tick.run_tick(T0_PLUS(2)).requeued == 0  # lease lapsed, but only just
    stack.clock.advance(600)  # type: ignore[union-attr]
    assert stack.runtime.tick.run_tick(T0_PLUS(10)).requeued == 1
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED and done.attempts == 2


def test_a_silent_attempt_past_its_timeout_is_failed_by_the_heartbeat(settings: Settings, admin: str) -> None:
    with built_stack(dataclasses.replace(settings, lease_s=3)) as stack:
        job = stack.schedule(admin, type="plugin:test-kit:silent", payload={}, timeout_seconds=1, maxRetries=0)
        handlers.gates[job["id"]] = threading.Event()
        worker = threading.Thread(target=stack.poller.poll_once)
        worker.start()
        deadline = time.monotonic() + 5
        while stack.job(job["id"]).status != JobStatus.FAILED:
            assert time.monotonic() < deadline, "the overrun was never recorded"
            time.sleep(0.05)
        handlers.gates[job["id"]].set()  # the handler finishes late...
        worker.join(10)
        failed = stack.job(job["id"])
        assert failed.status == JobStatus.FAILED  # ...and its result is refused
        assert failed.error == "JobTimedOut: the attempt ran past its timeout of 1 s"


def test_an_aws_error_on_one_record_fails_only_that_record(stack: Stack, admin: str) -> None:
    import app as app_module
    from devstack.pollers import LambdaContext, sqs_event

    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    sqs = stack.session.client("sqs")
    url = queue_url(stack)
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    good = sqs_event([message], arn, "us-east-1")["Records"][0]
    broken = dict(good, messageId="broken", eventSourceARN=arn.rsplit(":", 1)[0] + ":no-such-queue")
    answer = app_module.worker_normal({"Records": [broken, good]}, LambdaContext("worker_normal", 60))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    assert stack.job(job["id"]).status == JobStatus.COMPLETED


@pytest.mark.parametrize(("age_days", "renewed"), [(8, True), (1, False)])
def test_a_far_future_job_moves_to_a_fresh_message_before_retention_ends(
    stack: Stack, admin: str, age_days: int, renewed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    from devstack.pollers import sqs_event

    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={}, run_at="2027-03-01T00:00:00Z")
    duplicate_message(stack, job["id"])
    sqs = stack.session.client("sqs")
    [message] = sqs.receive_message(QueueUrl=queue_url(stack), MessageSystemAttributeNames=["All"])["Messages"]
    sent = time.time() - age_days * 24 * 3600  # what SQS would report for a message that hopped for days
    message["Attributes"]["SentTimestamp"] = str(int(sent * 1000))
    answer = stack.runtime.worker.handle_event(
        sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:tickwork-normal", "us-east-1")
    )
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    # Renewed: this message is done (Lambda deletes it) and a fresh one carries the job.
    # Young: it stays, hidden until the job is due.
    assert (message["MessageId"] not in failed) is renewed
    fresh = sqs.receive_message(QueueUrl=queue_url(stack)).get("Messages", [])
    assert [json.loads(m["Body"])["job_id"] for m in fresh] == ([job["id"]] if renewed else [])
    assert stack.job(job["id"]).status == JobStatus.PENDING
    # Young: it hides until due, as long as SQS allows (12 h from the receipt, a quarter less).
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


@pytest.mark.parametrize(("concurrency", "completed"), [(5, 5), (1, 0)])
def test_a_batchs_records_run_side_by_side_when_the_worker_is_told_to(
    settings: Settings, admin: str, concurrency: int, completed: int
) -> None:
    from devstack.pollers import sqs_event

    group = f"g{concurrency}"
    handlers.rendezvous[group] = threading.Barrier(5)
    with built_stack(dataclasses.replace(settings, record_concurrency=concurrency)) as stack:
        ids = [
            stack.schedule(
                admin,
                type="plugin:test-kit:rendezvous",
                payload={"group": group, "wait_s": 5 if concurrency > 1 else 0.3},
                maxRetries=0,
            )["id"]
            for _ in range(5)
        ]
        sqs = stack.session.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=queue_url(stack), MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        )["Messages"]
        assert len(messages) == 5
        stack.runtime.worker.handle_event(
            sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:tickwork-normal", "us-east-1")
        )
        statuses = [stack.job(job_id).status for job_id in ids]
    # One after another, the first job waits for four that cannot start: it fails, and so on.
    assert statuses.count(JobStatus.COMPLETED) == completed
