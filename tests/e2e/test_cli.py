"""``python -m devstack.cli jobs|cron`` against the embedded stack over real HTTP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from devstack.cli import main
from tests.e2e.conftest import REPO_ROOT, RunningStack, free_port, poll_json

IMPORT_TYPE = "plugin:my-plugin:import"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def no_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKWORK_TOKEN", raising=False)
    monkeypatch.delenv("TICKWORK_API_URL", raising=False)


def cli(stack: RunningStack, *args: str, token: str | None = None) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args, "--url", stack.base_url, "--token", token or stack.admin_token], out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


def schedule(stack: RunningStack, store_id: str, **fields: Any) -> dict[str, Any]:
    body = {"type": IMPORT_TYPE, "payload": {"count": 300}, "storeId": store_id, **fields}
    answer = requests.post(stack.url("/api/background-jobs/schedule"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()["job"]
    return job


def test_a_job_is_listed_shown_and_followed_to_completion(embedded_stack: RunningStack) -> None:
    job = schedule(embedded_stack, "store-cli-follow")

    followed = cli(embedded_stack, "jobs", "follow", job["id"], "--interval", "0.1", "--timeout", "30")
    assert followed.code == 0, followed.err
    lines = followed.out.splitlines()
    assert lines[-2].startswith("[" + "#" * 30 + "] 100%  completed")
    assert lines[-1] == f'job {job["id"]} completed: {{"failed": 0, "successful": 300, "total": 300}}'

    shown = cli(embedded_stack, "jobs", "show", job["id"])
    assert shown.code == 0, shown.err
    assert ["status", "completed"] in [line.split() for line in shown.out.splitlines()]
    assert '"successful": 300' in shown.out
    assert "Starting import from external-api" in shown.out  # its log lines

    listed = cli(embedded_stack, "jobs", "list", "--store", "store-cli-follow", "--status", "completed")
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert header.split() == ["ID", "TYPE", "STATUS", "PROGRESS", "STORE", "PRIORITY", "UPDATED"]
    assert [row.split()[:5] for row in rows] == [[job["id"], IMPORT_TYPE, "completed", "100%", "store-cli-follow"]]

    as_json = cli(embedded_stack, "jobs", "list", "--store", "store-cli-follow", "--json")
    assert [j["id"] for j in as_json.json()["jobs"]] == [job["id"]]


def test_a_cancelled_job_follows_to_exit_1_and_retry_runs_it_again(embedded_stack: RunningStack) -> None:
    job = schedule(embedded_stack, "store-cli-retry", delay=600)

    cancelled = cli(embedded_stack, "jobs", "cancel", job["id"])
    assert (cancelled.code, cancelled.out.strip()) == (0, f"job {job['id']} is cancelled")
    followed = cli(embedded_stack, "jobs", "follow", job["id"])
    assert followed.code == 1
    assert followed.out.splitlines()[-1] == f"job {job['id']} cancelled"

    retried = cli(embedded_stack, "jobs", "retry", job["id"])
    assert retried.code == 0, retried.err
    assert retried.out.strip() == f"job {job['id']} queued again (pending)"
    done = cli(embedded_stack, "jobs", "follow", job["id"], "--interval", "0.1", "--timeout", "30", "--json")
    assert done.code == 0, done.err
    assert done.json()["job"]["status"] == "completed"


def test_follow_gives_up_after_its_timeout_with_a_sentence(embedded_stack: RunningStack) -> None:
    job = schedule(embedded_stack, "store-cli-wait", delay=600)
    waited = cli(embedded_stack, "jobs", "follow", job["id"], "--interval", "0.1", "--timeout", "0.3")
    assert waited.code == 1
    assert waited.err == f"error: Job {job['id']} is still pending after 0.3 s (--timeout).\n"


def test_api_refusals_print_the_api_sentence_and_exit_1(embedded_stack: RunningStack) -> None:
    missing = str(uuid.uuid4())
    unknown = cli(embedded_stack, "jobs", "show", missing)
    assert (unknown.code, unknown.out) == (1, "")
    assert unknown.err == f"error: No job '{missing}'. (HTTP 404, job_not_found)\n"

    done = schedule(embedded_stack, "store-cli-errors", payload={"count": 1})
    cli(embedded_stack, "jobs", "follow", done["id"], "--interval", "0.1", "--timeout", "30")
    refused = cli(embedded_stack, "jobs", "retry", done["id"])
    assert refused.code == 1
    assert "only failed or cancelled jobs can be retried. (HTTP 409," in refused.err

    bad_filter = cli(embedded_stack, "jobs", "list", "--status", "sleeping", "--json")
    assert bad_filter.code == 1
    assert bad_filter.err.startswith("error: status must be one of pending")
    assert "  status: unknown status" in bad_filter.err
    assert bad_filter.json()["code"] == "validation_error"

    forged = cli(embedded_stack, "cron", "list", token="not.a.token")
    assert forged.code == 1
    assert forged.err.endswith("(HTTP 401, invalid_token)\n")


def test_a_batch_is_listed_shown_with_its_children_and_cancelled(embedded_stack: RunningStack) -> None:
    store = "store-cli-batch"
    quick = {"type": IMPORT_TYPE, "payload": {"count": 1}}
    body = {
        "store_id": store,
        "jobs": [quick, quick, {**quick, "delay": 3600}],
        "on_complete": {"type": IMPORT_TYPE, "payload": {"count": 1}},
        "on_success": {"type": IMPORT_TYPE},
        "description": "cli batch",
    }
    answer = requests.post(
        embedded_stack.url("/api/background-jobs/batches"), json=body, headers=embedded_stack.headers(), timeout=10
    )
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["batch"]["id"]
    batch_url = embedded_stack.url(f"/api/background-jobs/batches/{batch_id}")
    poll_json(batch_url, embedded_stack.headers(), lambda got: got["batch"]["completed"] == 2)  # type: ignore[index]

    listed = cli(embedded_stack, "batches", "list", "--store", store)
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()
    assert header.split() == [
        "ID",
        "STATUS",
        "ENDED",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "STORE",
        "CREATED",
        "DESCRIPTION",
    ]
    assert row.split()[:7] == [batch_id, "open", "2/3", "2", "0", "0", store] and row.endswith("cli batch")

    shown = cli(embedded_stack, "batches", "show", batch_id)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    # Two of three ended (100 each), the delayed one at 0: 66 %, 20 of the bar's 30 marks.
    assert "progress     [" + "#" * 20 + "-" * 10 + "]  66%  2 of 3 ended" in lines
    assert "children     pending 1  running 0  completed 2  failed 0  cancelled 0  expired 0" in lines
    assert lines[-3:] == [
        "callbacks:",
        f"  on_complete  {IMPORT_TYPE}  waiting for every child to end",
        f"  on_success   {IMPORT_TYPE}  waiting for every child to end",
    ]

    pending = cli(embedded_stack, "batches", "jobs", batch_id, "--status", "pending")
    assert pending.code == 0, pending.err
    [child_row] = pending.out.splitlines()[1:]
    assert child_row.split()[1:4] == [IMPORT_TYPE, "pending", "0%"]
    paged = cli(embedded_stack, "batches", "jobs", batch_id, "--limit", "2")
    assert len(paged.out.splitlines()) == 4 and paged.out.splitlines()[-1].startswith("more: --next-token ")

    cancelled = cli(embedded_stack, "batches", "cancel", batch_id)
    assert (cancelled.code, cancelled.out.strip()) == (
        0,
        f"batch {batch_id} is finished: 2 completed, 0 failed, 1 cancelled",
    )
    final = poll_json(
        batch_url,
        embedded_stack.headers(),
        lambda got: got["batch"]["callbacks"][0]["job_status"] == "completed",  # type: ignore[index]
    )
    on_complete = final["batch"]["callbacks"][0]  # type: ignore[index]
    shown = cli(embedded_stack, "batches", "show", batch_id)
    lines = shown.out.splitlines()
    assert "progress     [" + "#" * 30 + "] 100%  3 of 3 ended" in lines
    assert lines[-2].startswith(f"  on_complete  {IMPORT_TYPE}  queued ")
    assert lines[-2].endswith(f"(job {on_complete['job_id']})") and ", completed " in lines[-2]
    assert lines[-1] == f"  on_success   {IMPORT_TYPE}  skipped: not every child completed"
    as_json = cli(embedded_stack, "batches", "show", batch_id, "--json").json()
    assert as_json["batch"]["callbacks"][0]["job_id"] == on_complete["job_id"]

    assert cli(embedded_stack, "batches", "list", "--store", store, "--status", "open").out.strip() == "no batches"
    unnamed = cli(embedded_stack, "batches", "list")  # an admin names the store
    assert unnamed.code == 1
    assert unnamed.err.startswith(
        "error: Name a store_id: batches are listed a store at a time. (HTTP 400, store_id_required)"
    )


def test_cron_jobs_are_listed_paused_resumed_and_run(embedded_stack: RunningStack) -> None:
    body = {
        "name": "CLI health",
        "cron_expression": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "job_type": "api_call",
        "configuration": {"url": "/api/health", "method": "GET"},
        "store_id": "store-cli-cron",
    }
    answer = requests.post(
        embedded_stack.url("/api/cron-jobs"), json=body, headers=embedded_stack.headers(), timeout=10
    )
    assert answer.status_code == 201, answer.text
    cron = answer.json()["job"]

    listed = cli(embedded_stack, "cron", "list", "--store", "store-cli-cron")
    assert listed.code == 0, listed.err
    row = listed.out.splitlines()[1]
    assert row.startswith(cron["id"]) and "CLI health" in row and "Europe/Berlin" in row and row.endswith("active")

    paused = cli(embedded_stack, "cron", "pause", cron["id"])
    assert paused.out.strip() == f"cron job {cron['id']} (CLI health) is paused"
    assert cli(embedded_stack, "cron", "list", "--store", "store-cli-cron", "--state", "active").out.strip() == (
        "no cron jobs"
    )
    resumed = cli(embedded_stack, "cron", "resume", cron["id"], "--json")
    assert resumed.json()["job"]["is_active"] is True

    ran = cli(embedded_stack, "cron", "run", cron["id"], "--json")
    assert ran.code == 0, ran.err
    execution_id = ran.json()["execution"]["id"]
    followed = cli(embedded_stack, "jobs", "follow", execution_id, "--interval", "0.1", "--timeout", "30")
    assert followed.code == 0, followed.out + followed.err

    shown = cli(embedded_stack, "cron", "show", cron["id"])
    assert shown.code == 0, shown.err
    assert "At 03:00 every day (Europe/Berlin)" in shown.out
    assert "executions (newest first):" in shown.out
    assert execution_id in shown.out


def test_cron_preview_needs_no_server_and_agrees_with_the_api(embedded_stack: RunningStack) -> None:
    args = ["cron", "preview", "30 1 * * *", "--tz", "America/New_York", "--after", "2026-10-31T00:00:00Z"]
    out, err = io.StringIO(), io.StringIO()
    assert main([*args, "--count", "3"], out=out, err=err) == 0, err.getvalue()
    # Once on the fall-back day (01:30 EDT), then 01:30 EST: Vixie cron's rule.
    assert out.getvalue().splitlines() == [
        "At 01:30 every day (America/New_York)",
        "  Sat 2026-10-31 01:30 EDT   2026-10-31T05:30:00Z",
        "  Sun 2026-11-01 01:30 EDT   2026-11-01T05:30:00Z",
        "  Mon 2026-11-02 01:30 EST   2026-11-02T06:30:00Z",
    ]

    out = io.StringIO()
    assert main([*args, "--count", "4", "--json"], out=out, err=io.StringIO()) == 0
    api = requests.post(
        embedded_stack.url("/api/cron-jobs/preview"),
        json={
            "cron_expression": "30 1 * * *",
            "timezone": "America/New_York",
            "after": "2026-10-31T00:00:00Z",
            "count": 4,
        },
        headers=embedded_stack.headers(),
        timeout=10,
    ).json()
    assert json.loads(out.getvalue()) == api

    out, err = io.StringIO(), io.StringIO()
    assert main(["cron", "preview", "0 0 31 2 *"], out=out, err=err) == 1
    assert err.getvalue() == (
        "error: Invalid cron expression: never fires: day 31 does not exist in February ('2' in the month field).\n"
    )


def test_no_api_or_no_token_is_a_sentence_not_a_traceback() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWORK_")}
        return subprocess.run(
            [sys.executable, "-m", "devstack.cli", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    refused = run("jobs", "list", "--url", url, "--token", "t")
    assert refused.returncode == 3
    assert refused.stderr == (
        f"error: Cannot reach the API at {url} (connection refused); start it with `make run` or pass --url.\n"
    )

    tokenless = run("cron", "list", "--url", url)
    assert tokenless.returncode == 2
    assert tokenless.stderr.startswith("error: No token: pass --token or set TICKWORK_TOKEN")
    assert "Traceback" not in refused.stderr + tokenless.stderr


class Terminal(io.StringIO):
    """An output stream that says it is a terminal, as a user's shell is."""

    def isatty(self) -> bool:
        return True


def test_follow_on_a_terminal_redraws_one_line(embedded_stack: RunningStack) -> None:
    job = schedule(embedded_stack, "store-cli-tty", payload={"count": 50})
    out, err = Terminal(), io.StringIO()
    code = main(
        [
            "jobs",
            "follow",
            job["id"],
            "--interval",
            "0.1",
            "--url",
            embedded_stack.base_url,
            "--token",
            embedded_stack.admin_token,
        ],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    bar_line, summary = out.getvalue().rsplit("\n", 2)[:2]
    # Every state is drawn over the previous one: carriage return, the bar, clear to the line's end.
    assert bar_line.startswith("\r[") and bar_line.count("\n") == 0
    assert bar_line.endswith("] 100%  completed  Import completed\033[K")
    assert summary.startswith(f"job {job['id']} completed: ")
