"""The embedded stack (``python -m devstack``) as a subprocess, for end-to-end tests.

``embedded_stack`` is one stack for the whole session (its own moto, its own state dir);
``running_stack`` starts more of them for tests that need their own (another AWS endpoint,
a restart). Each stack's output is drained by a thread, so the process never blocks on a
full pipe, and is shown when a start or a stop goes wrong.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0
ADMIN_TOKEN_PREFIX = "admin token:"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_env(state_dir: Path, aws_endpoint_url: str | None = None) -> dict[str, str]:
    """The test process's environment, pointed at ``state_dir`` for the JWT secret file.

    TICKWORK_JWT_SECRET goes (tests/conftest.py sets one) so the stack and the CLI both use
    the secret file in the state dir, as on a developer's machine.
    """
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("TICKWORK_JWT_SECRET", None)
    env.pop("DATABASE_URL", None)  # the stack starts its own throwaway PostgreSQL, as `make run` does
    env["TICKWORK_STATE_DIR"] = str(state_dir)
    env["PYTHONUNBUFFERED"] = "1"
    if aws_endpoint_url:
        env["AWS_ENDPOINT_URL"] = aws_endpoint_url
    return env


class OutputCollector(threading.Thread):
    """Reads a process's merged stdout/stderr line by line into memory."""

    def __init__(self, stream: object) -> None:
        super().__init__(name="stack-output", daemon=True)
        self._stream = stream
        self._lines: list[str] = []
        self._changed = threading.Condition()

    def run(self) -> None:
        for line in self._stream:  # type: ignore[attr-defined]
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def text(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float) -> str | None:
        """The first line (seen so far or arriving before the deadline) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            seen = 0
            while True:
                for line in self._lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(min(remaining, 0.1))


@dataclass
class RunningStack:
    """One ``python -m devstack`` process and what a test needs to talk to it."""

    process: subprocess.Popen[str]
    output: OutputCollector
    base_url: str
    state_dir: Path
    env: dict[str, str]
    admin_token: str = ""
    stopped: bool = field(default=False)

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}", "Content-Type": "application/json"}

    def stop(self) -> int:
        """SIGINT, as Ctrl-C would; the exit code (killed and failed if it hangs)."""
        if self.stopped:
            return self.process.returncode
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the stack did not stop within {STOP_DEADLINE_S} s of SIGINT:\n{self.output.text()}")
        self.output.join(timeout=5)
        return code


def start_stack(
    state_dir: Path,
    *,
    aws_endpoint_url: str | None = None,
    extra_args: list[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> RunningStack:
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**stack_env(state_dir, aws_endpoint_url), **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", str(port), "--no-tick", *(extra_args or [])],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    output = OutputCollector(process.stdout)
    output.start()
    stack = RunningStack(
        process=process, output=output, base_url=f"http://127.0.0.1:{port}", state_dir=state_dir, env=env
    )
    try:
        wait_until_healthy(stack, START_DEADLINE_S)
        line = output.wait_for(lambda text: ADMIN_TOKEN_PREFIX in text, timeout_s=5)
        assert line is not None, f"no {ADMIN_TOKEN_PREFIX!r} line:\n{output.text()}"
        stack.admin_token = line.split(ADMIN_TOKEN_PREFIX, 1)[1].strip()
        # The last line printed once the stack is up (signal handlers are in place).
        assert output.wait_for(lambda text: "Ctrl-C stops everything." in text, timeout_s=5), output.text()
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    return stack


def wait_until_healthy(stack: RunningStack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"the stack exited with {stack.process.returncode} while starting:\n{stack.output.text()}")
        try:
            answer = requests.get(stack.url("/api/health"), timeout=2)
            if answer.status_code == 200:
                return
            last_error = f"HTTP {answer.status_code}"
        except requests.RequestException as error:
            last_error = type(error).__name__
        time.sleep(0.1)
    pytest.fail(f"/api/health did not answer 200 within {timeout_s} s ({last_error}):\n{stack.output.text()}")


@contextmanager
def running_stack(
    state_dir: Path, *, aws_endpoint_url: str | None = None, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningStack]:
    """A started stack, stopped with SIGINT on exit; asserts a clean exit (code 0)."""
    stack = start_stack(state_dir, aws_endpoint_url=aws_endpoint_url, extra_env=extra_env)
    try:
        yield stack
    finally:
        was_stopped = stack.stopped
        code = stack.stop()
        if not was_stopped:
            assert code == 0, f"the stack exited with {code} after SIGINT:\n{stack.output.text()}"


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("tickwork-state")) as stack:
        yield stack


def poll_json(
    url: str, headers: Mapping[str, str], done: Callable[[dict[str, object]], bool], timeout_s: float = 20.0
) -> dict[str, object]:
    """GET ``url`` until ``done(body)`` or the deadline; the last body."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = requests.get(url, headers=dict(headers), timeout=5)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        body = answer.json()
        if done(body):
            return body
        time.sleep(0.05)
    pytest.fail(f"{url} did not reach the expected state within {timeout_s} s; last: {body}")


def cli_token(stack: RunningStack, *args: str) -> str:
    """A token from the CLI, as a user of the running stack mints one (its last line of output)."""
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "token", *args],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]
