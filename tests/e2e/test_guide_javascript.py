"""The plugin guide's own JavaScript, run with Node against the embedded stack.

The snippets in ``guide_js/`` are copied verbatim from plugin-job-guide.md; only
``guide_js/prelude.mjs`` (loaded first with ``node --import``) is ours: it defines ``userToken``
and makes relative fetch URLs go to the stack. Files ending in .mjs run as ES modules, so the
snippets' top-level ``await`` works as written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import RunningStack

GUIDE_JS = Path(__file__).resolve().parent / "guide_js"
NODE_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not on PATH: the guide's JavaScript examples need Node.js 20+ (global fetch, --import)")
    return found


def run_guide_snippet(node: str, stack: RunningStack, snippet: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": stack.env.get("PATH", ""),
        "TICKWORK_BASE_URL": stack.base_url,
        "TICKWORK_TOKEN": stack.admin_token,
    }
    return subprocess.run(
        [node, "--import", (GUIDE_JS / "prelude.mjs").as_uri(), str(GUIDE_JS / snippet)],
        cwd=GUIDE_JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )


def test_the_guides_bulk_import_example_runs_unchanged_to_completion(node: str, embedded_stack: RunningStack) -> None:
    done = run_guide_snippet(node, embedded_stack, "bulk-data-import.mjs")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Progress:" in done.stdout
    finished = done.stdout.split("Job finished:", 1)
    assert len(finished) == 2, done.stdout
    assert "status: 'completed'" in finished[1], done.stdout
    assert "type: 'plugin:my-plugin:import'" in finished[1], done.stdout


def test_the_guides_daily_sync_example_runs_unchanged_and_creates_it(node: str, embedded_stack: RunningStack) -> None:
    done = run_guide_snippet(node, embedded_stack, "daily-sync-task.mjs")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Cron job created:" in done.stdout
    created_id = done.stdout.split("Cron job created:", 1)[1].strip().splitlines()[0]
    assert created_id not in ("", "undefined"), done.stdout
    stored = requests.get(
        embedded_stack.url(f"/api/cron-jobs/{created_id}"),
        headers={"Authorization": f"Bearer {embedded_stack.admin_token}"},
        timeout=10,
    ).json()["job"]
    assert stored["name"] == "Daily Product Sync" and stored["job_type"] == "api_call"
    assert stored["store_id"] == "store-uuid" and stored["plugin_id"] == "your-plugin-uuid"
    assert stored["next_run_at"].endswith("T02:00:00.000000Z")
