"""`chalice local` imports app.py as Lambda would, and app.py tunes its server from the dev stack."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import token
from tests.e2e.conftest import REPO_ROOT, START_DEADLINE_S, free_port

# Untuned, every request on a keep-alive connection waits for the client's delayed ACK (40 ms
# on Linux); tuned, a health request takes about a millisecond.
DELAYED_ACK_S = 0.040
REQUESTS = 20


@pytest.fixture
def chalice_local() -> Iterator[str]:
    port = free_port()
    chalice = Path(sys.executable).with_name("chalice")
    process = subprocess.Popen(
        [str(chalice), "local", "--host", "127.0.0.1", "--port", str(port), "--no-autoreload", "--stage", "dev"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                if requests.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.poll() is not None and process.stdout else ""
                pytest.fail(f"chalice local did not answer /api/health: {output[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_chalice_local_serves_the_app_with_its_plugins(chalice_local: str) -> None:
    answer = requests.get(f"{chalice_local}/api/job-types", headers={"Authorization": f"Bearer {token()}"}, timeout=5)
    assert answer.status_code == 200, answer.text
    types = {entry["type"] for entry in answer.json()["job_types"]}
    assert {"webhook", "plugin:my-plugin:import"} <= types


def test_chalice_local_answers_keep_alive_without_the_ack_delay(chalice_local: str) -> None:
    with requests.Session() as session:
        session.get(f"{chalice_local}/api/health", timeout=5)  # the connection, opened
        times = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            assert session.get(f"{chalice_local}/api/health", timeout=5).status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < DELAYED_ACK_S * 0.75, times
