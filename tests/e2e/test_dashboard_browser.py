"""The dashboard in a real browser: Debian's chromium, driven by Playwright, on the embedded stack.

Screenshots go to test-artifacts/dashboard/ (TICKWORK_TEST_ARTIFACTS moves it). Under CI=true
a missing chromium fails the run; locally the module is skipped with the install command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import REPO_ROOT, RunningStack, poll_json, running_stack
from tests.e2e.stack_plugins.steps import STEPS_TYPE

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000
ARTIFACTS = Path(os.environ.get("TICKWORK_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "dashboard"
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium); under CI=true this fails instead")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Our own stack: the slow test-kit plugin instead of the shipped ones, and progress written
    # every 0.2 s (not 1 s) so a few seconds of job show several values.
    env = {"TICKWORK_PLUGINS_PACKAGE": "tests.e2e.stack_plugins", "TICKWORK_PROGRESS_INTERVAL_S": "0.2"}
    with running_stack(tmp_path_factory.mktemp("dashboard-state"), extra_env=env) as running:
        yield running


@pytest.fixture
def page(browser: Any, stack: RunningStack) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(WAIT_MS)
    tab.goto(stack.url("/"))
    yield tab
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


def shot(tab: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(tab: Any, token: str) -> None:
    tab.get_by_label("API token").fill(token)
    tab.get_by_role("button", name="Use token").click()
    tab.locator("#whoami").filter(has_text="admin").wait_for()


def schedule_steps(stack: RunningStack, **payload: Any) -> dict[str, Any]:
    body = {"type": STEPS_TYPE, "payload": payload, "storeId": "store-ui", "maxRetries": 0}
    answer = requests.post(stack.url("/api/background-jobs/schedule"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()["job"]
    return job


def api_job(stack: RunningStack, job_id: str) -> dict[str, Any]:
    answer = requests.get(stack.url(f"/api/background-jobs/{job_id}"), headers=stack.headers(), timeout=10)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()["job"]
    return job


def create_cron(stack: RunningStack, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "health check, nightly",
        "cron_expression": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "job_type": "api_call",
        "configuration": {"url": "/api/health", "method": "GET"},
        "store_id": "store-ui",
    }
    answer = requests.post(stack.url("/api/cron-jobs"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    cron: dict[str, Any] = answer.json()["job"]
    return cron


def owner_token(stack: RunningStack, store: str) -> str:
    """A store owner's token, minted by the CLI as a developer would."""
    minted = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "token", "--role", "store_owner", "--store", store],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return minted.stdout.strip().splitlines()[-1]


def test_the_page_asks_for_a_token_and_keeps_it_for_the_tab_only(page: Any, stack: RunningStack) -> None:
    assert page.locator("#token-panel").is_visible()
    assert page.locator("#view-jobs").is_hidden(), "no data view before a token"
    assert page.get_by_role("button", name="Forget token").is_hidden()
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Use token").click()
    page.locator("#token-error").filter(has_text="token").wait_for()
    shot(page, "01-token-refused")

    sign_in(page, stack.admin_token)
    assert page.evaluate("sessionStorage.getItem('tickwork.token')") == stack.admin_token
    assert page.evaluate("localStorage.length") == 0
    page.reload()
    page.locator("#view-jobs").wait_for()
    assert page.locator("#token-panel").is_hidden(), "a reload keeps the session's token"

    page.get_by_role("button", name="Forget token").click()
    page.locator("#token-panel").wait_for()
    assert page.evaluate("sessionStorage.getItem('tickwork.token')") is None


def test_a_job_scheduled_through_the_api_shows_its_progress_live_until_100(page: Any, stack: RunningStack) -> None:
    sign_in(page, stack.admin_token)
    job = schedule_steps(stack, steps=12, step_s=0.35, label=HOSTILE)
    row = page.locator(f'#jobs-table tr[data-job-id="{job["id"]}"]')
    row.wait_for()
    bar = row.locator("progress")

    seen: list[int] = []
    midway_shot = False
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        value = int(float(bar.get_attribute("value") or 0))
        if not seen or seen[-1] != value:
            seen.append(value)
        if 0 < value < 100 and not midway_shot:
            shot(page, "02-job-progress-midway")
            midway_shot = True
        if value == 100 and row.get_attribute("data-status") == "completed":
            break
        page.wait_for_timeout(100)
    assert seen[-1] == 100, f"the bar did not reach 100: {seen}"
    assert any(0 < v < 100 for v in seen), f"no value between 0 and 100 was shown: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert row.locator(".pct").inner_text() == "100 %"
    assert row.locator(".badge").inner_text() == "completed"
    shot(page, "03-job-completed")

    # The message carries markup; it must show as text and never run.
    assert HOSTILE in row.inner_text()
    assert page.evaluate("window.__pwned") is None

    page.get_by_role("button", name=f"Open job {job['id']}").click()
    dialog = page.locator("#job-dialog")
    dialog.locator("pre.json").first.wait_for()
    assert '"steps": 12' in dialog.inner_text()
    assert "12 steps of 0.35 s" in dialog.locator(".log").inner_text()
    shot(page, "04-job-detail")
    dialog.get_by_role("button", name="Close job details").click()


def test_a_running_job_is_cancelled_from_its_detail_keeping_focus(page: Any, stack: RunningStack) -> None:
    sign_in(page, stack.admin_token)
    job = schedule_steps(stack, steps=60, step_s=0.25, label="long")
    page.get_by_role("button", name=f"Open job {job['id']}").click()
    dialog = page.locator("#job-dialog")
    dialog.locator(".badge", has_text="running").wait_for()
    cancel = dialog.get_by_role("button", name=f"Cancel job {job['id']}")
    cancel.focus()
    page.wait_for_timeout(2500)  # two detail polls with new progress each
    assert page.evaluate("document.activeElement && document.activeElement.textContent") == "Cancel"
    shot(page, "04b-job-running-detail")

    cancel.click()
    dialog.locator(".badge", has_text="cancelled").wait_for()
    stored = api_job(stack, job["id"])
    assert stored["status"] == "cancelled"
    assert 0 < stored["progress"] < 100
    dialog.get_by_role("button", name=f"Retry job {job['id']}").wait_for()


def test_filters_narrow_the_list(page: Any, stack: RunningStack) -> None:
    sign_in(page, stack.admin_token)
    job = schedule_steps(stack, steps=1, step_s=0)
    poll_json(stack.url(f"/api/background-jobs/{job['id']}/status"), stack.headers(), _finished)
    page.locator(f'#jobs-table tr[data-job-id="{job["id"]}"]').wait_for()
    filters = page.locator("#job-filters")
    filters.get_by_label("Status").select_option("failed")
    filters.get_by_role("button", name="Apply").click()
    # The completed job leaves the list (another test's failed job may stay).
    page.locator(f'#jobs-table tr[data-job-id="{job["id"]}"]').wait_for(state="detached")
    statuses = page.locator("#jobs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert set(statuses) <= {"failed"}
    filters.get_by_label("Status").select_option("completed")
    filters.get_by_label("Type").fill(STEPS_TYPE)
    filters.get_by_label("Store").fill("store-ui")
    filters.get_by_role("button", name="Apply").click()
    page.locator(f'#jobs-table tr[data-job-id="{job["id"]}"]').wait_for()
    filters.get_by_label("Store").fill("store-nobody")
    filters.get_by_role("button", name="Apply").click()
    page.locator("#jobs-empty").wait_for()


def _finished(body: dict[str, Any]) -> bool:
    return body["job"]["status"] in ("completed", "failed")  # type: ignore[no-any-return]


def test_a_failed_job_is_listed_and_its_retry_runs_it_again(page: Any, stack: RunningStack, tmp_path: Path) -> None:
    marker = tmp_path / "fail-while-present"
    marker.write_text("x")
    job = schedule_steps(stack, steps=2, step_s=0, fail_if_exists=str(marker))
    failed = poll_json(stack.url(f"/api/background-jobs/{job['id']}/status"), stack.headers(), _finished)
    assert failed["job"]["status"] == "failed"  # type: ignore[index]

    sign_in(page, stack.admin_token)
    page.goto(stack.url("/#failed"))
    row = page.locator(f'#failed-table tr[data-job-id="{job["id"]}"]')
    row.wait_for()
    assert "marker file present" in row.inner_text()
    page.locator("#dlq-table tbody tr").nth(3).wait_for()
    assert page.locator("#dlq-table tbody tr").count() == 4
    shot(page, "05-failed-jobs")

    marker.unlink()
    row.get_by_role("button", name=f"Retry job {job['id']}").click()
    page.locator("#notice").filter(has_text="queued again").wait_for()
    done = poll_json(stack.url(f"/api/background-jobs/{job['id']}/status"), stack.headers(), _finished)
    assert done["job"]["status"] == "completed"  # type: ignore[index]
    row.wait_for(state="detached")


def stack_sqs(stack: RunningStack) -> Any:
    """boto3 SQS on the stack's own moto (the endpoint its start-up banner printed)."""
    import boto3

    line = next(text for text in stack.output.lines if "AWS endpoint:" in text)
    endpoint = line.split("AWS endpoint:", 1)[1].split()[0]
    region = stack.env.get("AWS_REGION") or stack.env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name=region, aws_access_key_id="local", aws_secret_access_key="local"
    )


def test_a_parked_message_is_shown_and_redriven_from_the_page(page: Any, stack: RunningStack) -> None:
    sqs = stack_sqs(stack)
    prefix = stack.env.get("TICKWORK_QUEUE_PREFIX", "tickwork-")
    queue_url = sqs.get_queue_url(QueueName=f"{prefix}normal")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="not json <b>at all</b>")  # a worker parks it

    sign_in(page, stack.admin_token)
    page.goto(stack.url("/#failed"))
    redrive = page.get_by_role("button", name="Redrive the normal dead-letter queue")
    redrive.wait_for()
    page.get_by_role("button", name="Show parked messages").click()
    parked = page.locator("#dlq-sample-table tbody tr", has_text="unreadable message body").first
    parked.wait_for()
    assert "not json <b>at all</b>" in parked.inner_text()
    shot(page, "05b-dead-letters")

    redrive.click()
    page.locator("#notice").filter(has_text="back to the normal queue").wait_for()
    assert page.locator("#notice").inner_text().startswith("Moved 1 message")


def test_a_cron_job_is_paused_and_resumed_from_the_page(page: Any, stack: RunningStack) -> None:
    cron = create_cron(stack, "Nightly <b>health</b>")
    sign_in(page, stack.admin_token)
    page.get_by_role("link", name="Cron jobs").click()
    row = page.locator(f'#crons-table tr[data-cron-id="{cron["id"]}"]')
    row.wait_for()
    assert "Nightly <b>health</b>" in row.inner_text()
    assert "At 03:00 every day" in row.inner_text()
    shot(page, "06-cron-active")

    row.get_by_role("button", name="Pause Nightly <b>health</b>").click()
    page.locator(f'#crons-table tr[data-cron-id="{cron["id"]}"][data-active="false"]').wait_for()
    stored = requests.get(stack.url(f"/api/cron-jobs/{cron['id']}"), headers=stack.headers(), timeout=10).json()
    assert stored["job"]["is_active"] is False
    shot(page, "07-cron-paused")

    paused_row = page.locator(f'#crons-table tr[data-cron-id="{cron["id"]}"]')
    paused_row.get_by_role("button", name="Resume Nightly <b>health</b>").click()
    page.locator(f'#crons-table tr[data-cron-id="{cron["id"]}"][data-active="true"]').wait_for()

    # Run now, then its history shows the run.
    paused_row.get_by_role("button", name="Run Nightly <b>health</b> now").click()
    page.locator("#notice").filter(has_text="a run was queued").wait_for()
    page.get_by_role("button", name="Open cron job Nightly <b>health</b>").click()
    dialog = page.locator("#cron-dialog")
    dialog.locator("#executions-table tbody tr").first.wait_for()
    dialog.locator(".runs li").first.wait_for()
    assert dialog.locator(".runs li").count() == 5
    shot(page, "08-cron-history")


def test_the_cron_editor_previews_as_you_type_and_shows_validation_errors(page: Any, stack: RunningStack) -> None:
    sign_in(page, stack.admin_token)
    page.goto(stack.url("/#crons"))
    page.get_by_role("button", name="New cron job").click()
    form = page.locator("#cron-form")
    preview = page.locator("#cron-preview")

    form.get_by_label("Cron expression").fill("0 0 31 2 *")
    preview.locator(".error").filter(has_text="never fires").wait_for()
    form.get_by_label("Cron expression").fill("*/15 9-17 * * mon-fri")
    form.get_by_label("Timezone").fill("America/New_York")
    preview.locator(".description").filter(has_text="Monday through Friday").wait_for()
    assert preview.locator("li").count() == 5
    shot(page, "09-cron-editor-preview")

    form.get_by_label("Job type").fill("api_call")
    form.get_by_label("Store", exact=True).fill("store-ui")
    form.get_by_label("Configuration (JSON object)").fill('{"url": "/api/health", "method": "GET"}')
    form.get_by_role("button", name="Save").click()  # no name yet
    form.locator('[data-error-for="name"]').filter(has_text="at least 1 character").wait_for()
    assert form.get_by_label("Name", exact=True).get_attribute("aria-invalid") == "true"
    shot(page, "10-cron-editor-errors")

    form.get_by_label("Name", exact=True).fill("Office hours ping")
    form.get_by_role("button", name="Save").click()
    page.locator("#editor-dialog").wait_for(state="hidden")
    page.locator("#crons-table tr", has_text="Office hours ping").wait_for()


def test_queue_depths_per_priority_are_shown(page: Any, stack: RunningStack) -> None:
    sign_in(page, stack.admin_token)
    page.goto(stack.url("/#queues"))
    rows = page.locator("#queues-table tbody tr")
    rows.first.wait_for()
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.priority)") == ["urgent", "high", "normal", "low"]
    assert int(page.locator('#status-counts li[data-status="completed"] .count').inner_text()) >= 0
    shot(page, "11-queues")


def test_a_store_owner_sees_only_its_store_and_no_queue_depths(page: Any, stack: RunningStack) -> None:
    owner = owner_token(stack, "store-own")
    mine = requests.post(
        stack.url("/api/background-jobs/schedule"),
        json={"type": STEPS_TYPE, "payload": {"steps": 1, "step_s": 0}, "storeId": "store-own"},
        headers=stack.headers(owner),
        timeout=10,
    ).json()["job"]
    schedule_steps(stack, steps=1, step_s=0)  # store-ui: not the owner's

    page.get_by_label("API token").fill(owner)
    page.get_by_role("button", name="Use token").click()
    page.locator("#whoami").filter(has_text="store_owner").wait_for()
    page.locator(f'#jobs-table tr[data-job-id="{mine["id"]}"]').wait_for()
    stores = page.locator("#jobs-table tbody td[data-label='Store']").all_inner_texts()
    assert set(stores) == {"store-own"}

    page.goto(stack.url("/#queues"))
    page.locator("#queues-empty").filter(has_text="admins only").wait_for()
    assert page.locator("#queues-table").is_hidden()


def test_the_page_fits_a_phone_screen(browser: Any, stack: RunningStack) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    try:
        tab.goto(stack.url("/"))
        schedule_steps(stack, steps=1, step_s=0)
        sign_in(tab, stack.admin_token)
        tab.locator("#jobs-table tbody tr").first.wait_for()
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
        shot(tab, "12-phone-jobs")
        tab.goto(stack.url("/#crons"))
        tab.locator("#crons-table tbody tr").first.wait_for()
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(tab, "13-phone-crons")
    finally:
        context.close()


def test_an_admin_sees_a_flooding_stores_load_and_an_owner_does_not(page: Any, stack: RunningStack) -> None:
    limits = requests.put(
        stack.url("/api/admin/stores/store-flood/limits"),
        json={"max_running": 1},
        headers=stack.headers(),
        timeout=10,
    )
    assert limits.status_code == 200, limits.text
    body = {"type": STEPS_TYPE, "payload": {"steps": 40, "step_s": 0.25}, "storeId": "store-flood", "maxRetries": 0}
    for _ in range(8):
        answer = requests.post(
            stack.url("/api/background-jobs/schedule"), json=body, headers=stack.headers(), timeout=10
        )
        assert answer.status_code == 201, answer.text

    sign_in(page, stack.admin_token)
    tab = page.get_by_role("link", name="Stores")
    tab.focus()
    page.keyboard.press("Enter")
    # The tab marks itself current when the view has switched: waited for, not read at once.
    page.locator('a[aria-current="page"]', has_text="Stores").wait_for()
    # One runs (its cap), the rest wait for a slot, and the backlog and oldest waiting job arrive.
    row = page.locator('#stores-table tr[data-store-id="store-flood"][data-running="1"][data-cap="1"]')
    row.wait_for()
    assert row.locator("td[data-label='Running']").inner_text() == "1 / 1"
    assert row.locator("[aria-label='1 running of a cap of 1']").count() == 1
    page.wait_for_function(
        """() => {
          const row = document.querySelector('#stores-table tr[data-store-id="store-flood"]');
          return row && Number(row.dataset.waiting) > 0 && /^\\d+$/.test(row.querySelector("td[data-label='Backlog']").textContent);
        }"""
    )
    flood = page.locator('#stores-table tr[data-store-id="store-flood"]')
    assert int(flood.locator("td[data-label='Waiting']").inner_text()) > 0
    assert int(flood.locator("td[data-label='Backlog']").inner_text()) > 0
    flood.locator("td[data-label='Oldest waiting'] button").wait_for()
    shot(page, "14-stores-load")

    owner = owner_token(stack, "store-flood")
    page.get_by_role("button", name="Forget token").click()
    page.get_by_label("API token").fill(owner)
    page.get_by_role("button", name="Use token").click()
    page.locator("#whoami").filter(has_text="store_owner").wait_for()
    assert page.get_by_role("link", name="Stores").count() == 0, "the tab is not offered to an owner"
    page.goto(stack.url("/#stores"))
    page.locator("#stores-admin-only").wait_for()
    assert page.locator("#stores-table").is_hidden()
    assert page.locator('tr[data-store-id="store-flood"]').count() == 0


def test_the_overview_charts_jobs_that_completed_and_failed(page: Any, stack: RunningStack, tmp_path: Path) -> None:
    marker = tmp_path / "fail-while-present"
    marker.write_text("x")
    jobs = [schedule_steps(stack, steps=1, step_s=0) for _ in range(2)]
    jobs.append(schedule_steps(stack, steps=1, step_s=0, fail_if_exists=str(marker)))
    for job in jobs:
        poll_json(stack.url(f"/api/background-jobs/{job['id']}/status"), stack.headers(), _finished)

    sign_in(page, stack.admin_token)
    tab = page.get_by_role("link", name="Overview")
    tab.click()
    outcomes = page.locator('figure[data-chart="outcomes"]')
    outcomes.wait_for()
    assert outcomes.locator("figcaption").inner_text() == "Jobs finished per minute, by outcome"
    assert outcomes.locator("svg[role='img']").get_attribute("data-points") == "60"
    series = outcomes.locator("g.series-group")
    assert [series.nth(i).get_attribute("data-series") for i in range(series.count())] == [
        "completed",
        "failed",
        "cancelled",
        "retried",
    ]
    assert all(series.nth(i).get_attribute("data-count") == "60" for i in range(4))
    assert float(outcomes.locator('g[data-series="completed"]').get_attribute("data-max") or 0) >= 2
    assert float(outcomes.locator('g[data-series="failed"]').get_attribute("data-max") or 0) >= 1
    assert outcomes.locator(".legend li").all_inner_texts() == ["completed", "failed", "cancelled", "retried"]
    charts = page.locator("#charts figure")
    assert [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())] == [
        "outcomes",
        "wait",
        "run",
        "failure-rate",
        "lateness",
        "queues",
    ]
    failure = page.locator('figure[data-chart="failure-rate"] g[data-series="failure rate"]')
    assert 0 < float(failure.get_attribute("data-max") or 0) <= 100
    assert int(page.locator('figure[data-chart="wait"] g[data-series="p50"]').get_attribute("data-count") or 0) >= 1
    run = page.locator(f'figure[data-chart="run"] g[data-series="{STEPS_TYPE}"]')
    assert int(run.get_attribute("data-count") or 0) >= 1
    shot(page, "15-overview-hour")

    page.get_by_role("button", name="Last day").click()
    page.locator('#charts[data-window="day"]').wait_for()
    assert page.locator('figure[data-chart="outcomes"] svg[role="img"]').get_attribute("data-points") == "24"
    shot(page, "16-overview-day")


def test_a_batch_shows_its_progress_counts_callbacks_and_children_and_is_cancelled(
    page: Any, stack: RunningStack
) -> None:
    quick = {"type": STEPS_TYPE, "payload": {"steps": 1, "step_s": 0}, "maxRetries": 0}
    slow = {"type": STEPS_TYPE, "payload": {"steps": 100, "step_s": 0.5, "label": "slow"}, "maxRetries": 0}
    callback = {"type": STEPS_TYPE, "payload": {"steps": 1, "step_s": 0, "label": "callback"}}
    body = {
        "store_id": "store-batch",
        "jobs": [quick] * 28 + [slow] * 2,
        "on_complete": callback,
        "on_success": callback,
        "description": f"Nightly {HOSTILE}",
    }
    answer = requests.post(stack.url("/api/background-jobs/batches"), json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["batch"]["id"]
    # The quick children finish; the slow two run on (50 s each) until the page cancels them.
    poll_json(
        stack.url(f"/api/background-jobs/batches/{batch_id}"),
        stack.headers(),
        lambda got: got["batch"]["completed"] == 28 and got["batch"]["running"] == 2,  # type: ignore[index]
        timeout_s=60,
    )

    sign_in(page, stack.admin_token)
    page.get_by_role("link", name="Batches").click()
    page.locator("#batches-need-store").wait_for()  # an admin names the store
    filters = page.locator("#batch-filters")
    filters.get_by_label("Store").fill("store-batch")
    filters.get_by_role("button", name="Apply").click()
    row = page.locator(f'#batches-table tr[data-batch-id="{batch_id}"][data-status="open"]')
    row.wait_for()
    assert row.locator(".pct").inner_text() == "28 / 30"
    assert HOSTILE in row.inner_text()
    assert page.evaluate("window.__pwned") is None
    shot(page, "17-batches")

    row.get_by_role("button", name=f"Open batch {batch_id}").click()
    dialog = page.locator("#batch-dialog")
    bar = dialog.get_by_label(f"Progress of batch {batch_id}")
    bar.wait_for()
    # 28 of 30 ended count 100 each, the two running add their own progress: 93 % and more, never 100.
    assert 93 <= int(float(bar.get_attribute("value") or 0)) < 100
    counts = dialog.locator(".counts li")
    dialog.locator('.counts li[data-status="completed"] .count', has_text="28").wait_for()
    assert dict(
        zip(
            counts.evaluate_all("items => items.map(i => i.dataset.status)"),
            counts.locator(".count").all_inner_texts(),
            strict=True,
        )
    ) == {
        "pending": "0",
        "running": "2",
        "completed": "28",
        "failed": "0",
        "cancelled": "0",
        "expired": "0",
    }
    assert dialog.locator(".detail-progress .message").inner_text() == "28 of 30 children ended"
    callbacks = dialog.locator("#batch-callbacks-table tbody tr")
    assert callbacks.evaluate_all("rows => rows.map(r => [r.dataset.callback, r.dataset.state])") == [
        ["on_complete", "waiting"],
        ["on_success", "waiting"],
    ]
    assert "runs once every child has ended" in callbacks.first.inner_text()

    # The children, a page of 25 at a time, each linking to its job.
    children = dialog.locator("#batch-children-table tbody tr")
    children.nth(24).wait_for()
    assert children.count() == 25
    dialog.get_by_role("button", name="Load more").click()
    children.nth(29).wait_for()
    statuses = children.evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert sorted(statuses) == ["completed"] * 28 + ["running"] * 2
    dialog.evaluate("element => { element.scrollTop = 0; }")
    shot(page, "18-batch-running")

    running = dialog.locator('#batch-children-table tr[data-status="running"]').first
    child_id = running.get_attribute("data-job-id")
    running.get_by_role("button", name=f"Open job {child_id}").click()
    job_dialog = page.locator("#job-dialog")
    job_dialog.locator(".log").wait_for()
    assert "slow: 100 steps of 0.5 s" in job_dialog.inner_text()
    job_dialog.get_by_role("button", name=f"Open batch {batch_id}").click()  # the job's batch, as a link
    job_dialog.wait_for(state="hidden")
    cancel = dialog.get_by_role("button", name=f"Cancel batch {batch_id}")
    cancel.click()
    page.locator("#notice").filter(has_text="unfinished children are cancelled").wait_for()
    dialog.locator(".detail-progress .badge", has_text="finished").wait_for()
    assert cancel.count() == 0, "no Cancel once every child has ended"
    dialog.locator('.counts li[data-status="cancelled"] .count', has_text="2").wait_for()
    assert bar.get_attribute("value") == "100"
    assert dialog.locator(".detail-progress .message").inner_text() == "30 of 30 children ended"

    # on_complete runs (its job linked, with when it was queued and ended); on_success never does.
    on_complete = dialog.locator('#batch-callbacks-table tr[data-callback="on_complete"][data-state="queued"]')
    on_complete.locator(".badge", has_text="completed").wait_for()
    assert on_complete.locator("td[data-label='Finished'] time").count() == 1
    skipped = dialog.locator('#batch-callbacks-table tr[data-callback="on_success"][data-state="skipped"]')
    assert "not every child completed" in skipped.inner_text()
    assert skipped.locator("td[data-label='Job']").inner_text() == "—"
    shot(page, "19-batch-cancelled")
    on_complete.locator("td[data-label='Job'] button").click()
    job_dialog.get_by_role("button", name=f"Open batch {batch_id}").wait_for()
    assert "on_complete" in job_dialog.locator(".facts").inner_text()
    assert '"batch"' in job_dialog.locator("pre.json").last.inner_text()  # the summary it received
