"""A plugin author's inner loop on the real stack: a saved file restarts the app, a restart keeps the data."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import RunningStack, poll_json, start_stack
from tests.e2e.test_embedded_stack import schedule, wait_until_finished

QUICK = ["--no-database"]  # no test here runs a database_query job
DELAY_S = 10


def create_cron(stack: RunningStack) -> dict[str, Any]:
    body = {
        "name": "nightly import",
        "cron_expression": "0 3 * * *",
        "timezone": "Europe/Paris",
        "job_type": "plugin:my-plugin:import",
        "store_id": "store-loop",
        "configuration": {"count": 1},
    }
    answer = requests.post(stack.url("/api/cron-jobs"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    cron: dict[str, Any] = answer.json()["job"]
    return cron


def job_status(stack: RunningStack, job_id: str, token: str | None = None) -> requests.Response:
    return requests.get(stack.url(f"/api/background-jobs/{job_id}/status"), headers=stack.headers(token), timeout=5)


def cron_kept(stack: RunningStack, cron: dict[str, Any]) -> None:
    answer = requests.get(stack.url(f"/api/cron-jobs/{cron['id']}"), headers=stack.headers(), timeout=5)
    assert answer.status_code == 200, answer.text
    kept = answer.json()["job"]
    assert (kept["name"], kept["cron_expression"], kept["next_run_at"]) == (
        cron["name"],
        cron["cron_expression"],
        cron["next_run_at"],
    )


def app_pids(stack: RunningStack) -> set[int]:
    """The supervised app processes among the stack's children."""
    return {pid for pid in children(stack.process.pid) if "--supervised" in command_line(pid)}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except FileNotFoundError:
        return ""


def test_a_saved_file_restarts_the_app_within_seconds_and_keeps_jobs_crons_and_the_secret(tmp_path: Path) -> None:
    watched = tmp_path / "my_plugin"
    watched.mkdir()
    (watched / "handlers.py").write_text("VERSION = 1\n")
    stack = start_stack(tmp_path / "state", extra_args=[*QUICK, "--watch", str(watched)])
    try:
        job = schedule(stack, stack.admin_token, "store-loop", {"count": 2})
        wait_until_finished(stack, job["id"])
        cron = create_cron(stack)
        [before] = app_pids(stack)

        saved = time.monotonic()
        (watched / "handlers.py").write_text("VERSION = 2\n")
        line = stack.output.wait_for(lambda text: "reloaded: app pid" in text, timeout_s=15)
        took = time.monotonic() - saved
        assert line is not None, stack.output.text()
        after = int(line.split("app pid", 1)[1].split(",")[0])
        assert after != before and app_pids(stack) == {after}
        assert took < 6, f"{took:.1f} s from the save to an answering API:\n{stack.output.text()}"

        # The token minted before the reload still verifies (same signing secret), and the data is there.
        kept = job_status(stack, job["id"])
        assert kept.status_code == 200, kept.text
        assert kept.json()["job"]["result"] == {"total": 2, "successful": 2, "failed": 0}
        cron_kept(stack, cron)
        # The new app's workers run new work through the same queues.
        again = schedule(stack, stack.admin_token, "store-loop", {"count": 3})
        assert wait_until_finished(stack, again["id"])["result"]["total"] == 3
    finally:
        code = stack.stop()
    assert code == 0, stack.output.text()


def test_a_stopped_and_started_stack_keeps_its_jobs_crons_and_delays(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_stack(state, extra_args=QUICK)
    try:
        done = schedule(first, first.admin_token, "store-loop", {"count": 2})
        wait_until_finished(first, done["id"])
        cron = create_cron(first)
        delayed = schedule_delayed(first, DELAY_S)
    finally:
        assert first.stop() == 0, first.output.text()
    assert (state / "aws-state.json").exists()

    second = start_stack(state, extra_args=QUICK)
    try:
        kept = job_status(second, done["id"])
        assert kept.status_code == 200 and kept.json()["job"]["status"] == "completed", kept.text
        cron_kept(second, cron)
        # The delayed job's message came back hidden until its moment: it runs then, not at once.
        assert job_status(second, delayed["id"]).json()["job"]["status"] == "pending"
        ran = wait_until_finished(second, delayed["id"])
        started, due = (datetime.fromisoformat(ran[k]) for k in ("started_at", "scheduled_at"))
        assert started >= due, ran
        assert (started - due).total_seconds() < 10, ran
    finally:
        assert second.stop() == 0, second.output.text()


def schedule_delayed(stack: RunningStack, delay_s: int) -> dict[str, Any]:
    body = {"type": "plugin:my-plugin:import", "payload": {"count": 1}, "storeId": "store-loop", "delay": delay_s}
    answer = requests.post(stack.url("/api/background-jobs/schedule"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()["job"]
    return job


def snapshot_holds_finished(path: Path, job_id: str) -> bool:
    if not path.exists():
        return False
    items = [item for table in json.loads(path.read_text())["tables"] for item in table["items"]]
    values = [{v.get("S") for v in item.values()} for item in items]
    return any(job_id in strings and "completed" in strings for strings in values)


def test_a_sigkill_loses_at_most_the_last_snapshot_interval_and_fresh_starts_empty(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_stack(state, extra_args=QUICK)
    try:
        job = schedule(first, first.admin_token, "store-loop", {"count": 1})
        wait_until_finished(first, job["id"])
        deadline = time.monotonic() + 10  # two snapshot intervals, and some
        while not snapshot_holds_finished(state / "aws-state.json", job["id"]):
            assert time.monotonic() < deadline, "no snapshot holds the finished job"
            time.sleep(0.2)
    finally:
        # Everything at once, moto too, as a crash or an OOM kill would: no last snapshot on the way out.
        for pid in [*children(first.process.pid), first.process.pid]:
            os.kill(pid, signal.SIGKILL)
        first.stop()

    second = start_stack(state, extra_args=QUICK)
    try:
        kept = job_status(second, job["id"])
        assert kept.status_code == 200 and kept.json()["job"]["status"] == "completed", kept.text
    finally:
        assert second.stop() == 0, second.output.text()

    fresh = start_stack(state, extra_args=[*QUICK, "--fresh"])
    try:
        assert job_status(fresh, job["id"]).status_code == 404
        listed = poll_json(fresh.url("/api/cron-jobs"), fresh.headers(), lambda body: True)
        assert listed["jobs"] == [], listed
        # The signing secret is not data: the token minted before still verifies.
        assert job_status(fresh, job["id"], token=first.admin_token).status_code == 404
    finally:
        assert fresh.stop() == 0, fresh.output.text()
