"""The lines the API, the worker and the tick write: one JSON object each, tied by a correlation id.

These read what the real handler ``app.py`` puts on the root logger writes to stdout.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack, auth
from tests.kit import at, create_cron, queue_url, tick

SCHEDULE = "/api/background-jobs/schedule"
BODY = {"type": "plugin:my-plugin:import", "storeId": "store-a", "payload": {"count": 2, "source": "shop"}}


def lines_of(output: str) -> list[dict[str, Any]]:
    """Every line written, each parsed: one that is not a JSON object fails the test."""
    parsed = [json.loads(text) for text in output.splitlines() if text.strip()]
    assert all(isinstance(line, dict) for line in parsed)
    return parsed


def schedule(stack: Stack, tok: str, headers: dict[str, str]) -> Any:
    return stack.client.http.post(SCHEDULE, headers={**auth(tok), **headers}, body=json.dumps(BODY))


def test_a_request_and_the_worker_lines_of_its_job_share_the_callers_correlation_id(
    stack: Stack, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    response = schedule(stack, admin, {"X-Correlation-Id": "order-sync.42"})
    assert response.status_code == 201
    assert response.headers["X-Correlation-Id"] == "order-sync.42"
    job_id = response.json_body["job"]["id"]
    stack.poller.drain()
    assert stack.job(job_id).status == JobStatus.COMPLETED

    lines = lines_of(capsys.readouterr().out)
    (api,) = [line for line in lines if line.get("path") == SCHEDULE]
    assert api["level"] == "INFO" and api["logger"] == "tickwork.api"
    assert api["message"] == f"POST {SCHEDULE} 201" and api["status"] == 201 and api["method"] == "POST"
    assert api["correlation_id"] == "order-sync.42"
    assert api["timestamp"].endswith("Z") and "T" in api["timestamp"]
    handler = [line for line in lines if line.get("logger") == "tickwork.job"]
    assert [line["message"] for line in handler] == ["Starting import from shop"]
    assert handler[0] | {"timestamp": None} == {
        "timestamp": None,
        "level": "INFO",
        "logger": "tickwork.job",
        "message": "Starting import from shop",
        "correlation_id": "order-sync.42",
        "job_id": job_id,
        "store_id": "store-a",
        "type": "plugin:my-plugin:import",
        "priority": "normal",
        "attempt": 1,
    }


@pytest.mark.parametrize("sent", [None, "", "two words", "x" * 129, "bad\nline", '{"json": 1}'])
def test_a_request_without_a_sane_correlation_id_gets_a_new_one_which_its_job_carries(
    stack: Stack, admin: str, capsys: pytest.CaptureFixture[str], sent: str | None
) -> None:
    response = schedule(stack, admin, {} if sent is None else {"X-Correlation-Id": sent})
    assert response.status_code == 201
    minted = response.headers["X-Correlation-Id"]
    assert str(uuid.UUID(minted)) == minted
    stack.poller.drain()
    lines = lines_of(capsys.readouterr().out)
    mine = [line for line in lines if line.get("job_id") == response.json_body["job"]["id"]]
    assert mine and {line["correlation_id"] for line in mine} == {minted}


def test_a_failed_attempts_lines_carry_the_job_and_its_attempt(
    stack: Stack, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = stack.schedule(admin, type="plugin:test-kit:flaky", payload={"failures": 1}, maxRetries=1)
    stack.poller.drain()
    warnings = [line for line in lines_of(capsys.readouterr().out) if line.get("level") == "WARNING"]
    failed = [line for line in warnings if line.get("job_id") == job["id"] and "failed" in line["message"]]
    assert failed and failed[0]["attempt"] == 1 and failed[0]["logger"] == "tickwork.worker"


def test_the_jobs_one_tick_run_fires_share_one_correlation_id_of_their_own(clocked_stack: Stack, admin: str) -> None:
    create_cron(clocked_stack, admin, name="a", misfire_policy="run_all")
    create_cron(clocked_stack, admin, name="b", misfire_policy="run_all")
    tick(clocked_stack, at(12))
    sqs = clocked_stack.session.client("sqs")
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url(clocked_stack), MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not got.get("Messages"):
            break
        bodies += [json.loads(message["Body"]) for message in got["Messages"]]
    assert len({body["job_id"] for body in bodies}) >= 4
    ids = {body.get("correlation_id") for body in bodies}
    assert len(ids) == 1 and str(uuid.UUID(ids.pop()))  # one per tick run, not per job
