"""EMF metrics from real worker batches, ticks and API requests on moto, read back from stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.config import queue_name
from chalicelib.metrics import UNREGISTERED_TYPE, Metric, Metrics, type_dimension
from tests.conftest import Stack, assert_error
from tests.kit import at, create_cron, tick

JOB_DIMENSIONS = [["Stage", "Type"], ["Stage", "Priority"]]


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents printed since the last call."""
    documents = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def definitions(document: dict[str, Any]) -> dict[str, Any]:
    [directive] = document["_aws"]["CloudWatchMetrics"]
    return directive


def metric_units(documents: list[dict[str, Any]]) -> dict[str, str]:
    return {m["Name"]: m["Unit"] for d in documents for m in definitions(d)["Metrics"]}


def total(documents: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    """The Sum CloudWatch would show for ``name`` over the documents whose dimensions match."""
    found = 0.0
    for document in documents:
        if name in document and all(document.get(k) == v for k, v in dimensions.items()):
            found += sum(document[name])
    return found


def assert_store_is_a_property(document: dict[str, Any]) -> None:
    dimension_names = {name for names in definitions(document)["Dimensions"] for name in names}
    assert "store_id" not in dimension_names and "store_ids" not in dimension_names
    assert dimension_names <= {"Stage", "Type", "Priority"}


def test_a_worker_batch_writes_its_jobs_metrics_once_in_emf(
    stack: Stack, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = stack.schedule(admin, type="plugin:test-kit:flaky", priority="high", payload={})
    flaky = stack.schedule(admin, type="plugin:test-kit:flaky", priority="high", payload={"failures": 1})
    doomed = stack.schedule(admin, type="plugin:test-kit:flaky", priority="high", payload={"failures": 9}, maxRetries=0)
    scheduled = emitted(capsys)  # one flush per request
    assert len(scheduled) == 3
    for document in scheduled:
        assert document["store_id"] == "store-a"
        assert definitions(document)["Namespace"] == "Tickwork"
        assert definitions(document)["Dimensions"] == JOB_DIMENSIONS
        assert document["JobsScheduled"] == [1.0]
        assert (document["Stage"], document["Type"], document["Priority"]) == ("dev", "plugin:test-kit:flaky", "high")

    stack.poller.drain()
    assert [stack.job(j["id"]).status.value for j in (ok, flaky, doomed)] == ["completed", "completed", "failed"]
    documents = emitted(capsys)
    assert documents, "the worker flushed nothing"
    for document in documents:
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert definitions(document)["Dimensions"] == JOB_DIMENSIONS
        assert document["Stage"] == "dev" and document["Priority"] == "high"
        assert document["store_id"] == "store-a"
        assert_store_is_a_property(document)
    assert metric_units(documents) == {
        "JobsStarted": "Count",
        "JobsSucceeded": "Count",
        "JobsFailed": "Count",
        "JobsRetried": "Count",
        "JobWaitTime": "Seconds",
        "JobRunTime": "Seconds",
    }
    assert total(documents, "JobsStarted") == 4  # three first attempts and one retry
    assert total(documents, "JobsSucceeded") == 2
    assert total(documents, "JobsRetried") == 1
    assert total(documents, "JobsFailed") == 1
    waits = [v for d in documents for v in d.get("JobWaitTime", [])]
    runs = [v for d in documents for v in d.get("JobRunTime", [])]
    assert len(waits) == 3 and len(runs) == 4  # waits of first attempts; a run per attempt
    assert all(v >= 0 for v in waits + runs)


def test_an_unreadable_message_is_counted_as_dead_lettered_by_priority(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = stack.session.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name(stack.runtime.settings.queue_prefix, "low"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not a job message")
    emitted(capsys)
    stack.poller.drain()
    [document] = emitted(capsys)
    assert definitions(document)["Dimensions"] == [["Stage", "Priority"]]
    assert definitions(document)["Metrics"] == [{"Name": "MessagesDeadLettered", "Unit": "Count"}]
    assert (document["Priority"], document["MessagesDeadLettered"]) == ("low", [1.0])


def test_a_cancel_and_a_rate_limit_refusal_are_counted_by_the_api(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.configure(monkeypatch, max_jobs_per_minute_per_store=1)
    job = stack.schedule(admin, type="plugin:test-kit:flaky", delay=3600, payload={})
    refused = stack.post(
        "/api/background-jobs/schedule", {"type": "plugin:test-kit:flaky", "storeId": "store-a"}, admin
    )
    assert_error(refused, 429, "rate_limited")
    assert stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin).status_code == 200
    scheduled, refusal, cancel = emitted(capsys)
    assert scheduled["JobsScheduled"] == [1.0]
    assert definitions(refusal)["Dimensions"] == [["Stage"]]
    assert refusal["RateLimitRefusals"] == [1.0] and refusal["store_id"] == "store-a"
    assert definitions(cancel)["Dimensions"] == JOB_DIMENSIONS
    assert cancel["JobsCancelled"] == [1.0] and cancel["Priority"] == "normal"
    for document in (scheduled, refusal, cancel):
        assert_store_is_a_property(document)


def test_a_tick_writes_its_duration_firings_and_lateness_with_the_jobs_it_scheduled(
    clocked_stack: Stack, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_cron(clocked_stack, admin)  # */5, store-a
    create_cron(clocked_stack, admin, store_id="store-b")
    emitted(capsys)
    report = tick(clocked_stack, at(5, 7))  # 7 s late: both fire their 12:05 slot now
    assert report.fired == 2
    documents = emitted(capsys)
    [tick_document] = [d for d in documents if "Ticks" in d]
    assert definitions(tick_document)["Dimensions"] == [["Stage"]]
    assert metric_units([tick_document]) == {
        "Ticks": "Count",
        "SlotsFired": "Count",
        "CronJobsDue": "Count",
        "CronJobsDeferred": "Count",
        "TickErrors": "Count",
        "TickDuration": "Milliseconds",
        "CronFiringLateness": "Seconds",
    }
    assert tick_document["Ticks"] == [1.0] and tick_document["SlotsFired"] == [report.fired]
    assert tick_document["TickErrors"] == [0.0]
    assert sorted(tick_document["CronFiringLateness"]) == [7.0, 7.0]
    assert "store_id" not in tick_document
    [jobs] = [d for d in documents if "JobsScheduled" in d]
    assert jobs["JobsScheduled"] == [report.fired]
    assert jobs["store_ids"] == ["store-a", "store-b"] and jobs["store_count"] == 2
    assert_store_is_a_property(jobs)


def test_metrics_switched_off_write_nothing(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack.runtime.metrics, "enabled", False)
    stack.schedule(admin, type="plugin:test-kit:flaky", payload={})
    stack.poller.drain()
    assert emitted(capsys) == []


def test_only_registered_types_become_dimensions() -> None:
    registered = {"webhook", "plugin:my-plugin:import"}.__contains__
    assert type_dimension("webhook", registered) == "webhook"
    assert type_dimension("plugin:my-plugin:import", registered) == "plugin:my-plugin:import"
    assert type_dimension("plugin:gone:whatever", registered) == UNREGISTERED_TYPE


def test_samples_past_a_hundred_go_to_another_document() -> None:
    lines: list[str] = []
    metrics = Metrics(stage="prod", write=lines.append)
    for value in range(250):
        metrics.observe(Metric.RUN_TIME, value)
    documents = metrics.flush()
    assert [len(d["JobRunTime"]) for d in documents] == [99, 99, 52]
    assert [json.loads(line) for line in lines] == documents
    assert metrics.flush() == []  # a flush takes what was gathered
