"""``make run`` with reload: moto and PostgreSQL once, the app in a child restarted on each change.

The app (API server, queue pollers, tick: devstack/stack.py's ``run_stack``) runs in a child
process pointed at this process's moto through AWS_ENDPOINT_URL. When a watched file changes
the child gets SIGTERM, RELOAD_GRACE_S to finish, then SIGKILL, and a new child starts on the
new code: moto keeps running, so jobs, cron jobs, queues and the signing secret are all still
there. A job a worker was running comes back by its lease, as when a deploy replaces a Lambda.
A child that fails to start (a syntax error in a plugin) is started again on the next change.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack.stack import fresh_start, real_aws_requested, start_aws, start_database
from devstack.watch import Watcher, default_watched

RELOAD_GRACE_S = 1.0  # a batch of short jobs can finish; a long one comes back by its lease
STOP_GRACE_S = 6.0  # Ctrl-C: the stack's own stop grace (devstack/stack.py), and a little more
HEALTH_DEADLINE_S = 60.0

logger = logging.getLogger("tickwork.reload")


class AppProcess:
    """One child running ``python -m devstack --supervised``; ``stop()`` ends it, however it resists."""

    def __init__(self, command: list[str]) -> None:
        # Its stdin is a pipe only this process holds: when it closes (this process gone, even
        # by SIGKILL) the child exits too, so no orphan keeps the API's port.
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()


def app_command(
    args: argparse.Namespace, *, embedded_moto: bool, database_port: int | None, reloaded: bool
) -> list[str]:
    command = [sys.executable, "-m", "devstack", "--supervised", "--host", args.host, "--port", str(args.port)]
    command += ["--no-workers"] if args.no_workers else []
    command += ["--no-tick"] if args.no_tick else []
    command += ["--embedded-moto"] if embedded_moto else []
    command += ["--database-port", str(database_port)] if database_port is not None else []
    command += ["--reloaded"] if reloaded else []
    return command


def answering(base: str, process: AppProcess, stop: threading.Event) -> bool:
    """Whether the child's API answers before it exits, the deadline passes or a stop is asked."""
    deadline = time.monotonic() + HEALTH_DEADLINE_S
    while time.monotonic() < deadline and process.running() and not stop.is_set():
        try:
            urllib.request.urlopen(f"{base}/api/health", timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True  # an answer, whatever its status
        except OSError:
            stop.wait(0.05)
    return False


def supervise(args: argparse.Namespace) -> int:
    real_aws = real_aws_requested()
    state = fresh_start(args, real_aws)
    moto = start_aws(args.moto_port or None, real_aws=real_aws, state=state)
    database = None if args.no_database else start_database()
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    watched = args.watch or default_watched(Path.cwd())
    watcher = Watcher(watched, stop)
    watcher.start()

    def start_app(reloaded: bool) -> AppProcess:
        port = database.port if database is not None else None
        return AppProcess(app_command(args, embedded_moto=moto is not None, database_port=port, reloaded=reloaded))

    base = f"http://{args.host}:{args.port}"
    app = start_app(reloaded=False)
    reported_exit = False
    try:
        while not stop.is_set():
            try:
                changed = watcher.changes.get(timeout=0.25)
            except queue.Empty:
                if not app.running() and not reported_exit:
                    reported_exit = True
                    print(
                        f"the app exited with code {app.process.returncode}; it starts again on the next change",
                        flush=True,
                    )
                continue
            started = time.monotonic()
            names = ", ".join(sorted(os.path.relpath(path) for path in changed)[:3])
            print(f"reloading: {names}{' ...' if len(changed) > 3 else ''} changed", flush=True)
            app.stop(RELOAD_GRACE_S)
            app = start_app(reloaded=True)
            reported_exit = False
            if answering(base, app, stop):
                took = time.monotonic() - started
                print(f"reloaded: app pid {app.pid}, API answering {took:.1f} s after the change", flush=True)
    finally:
        print("stopping...", flush=True)
        app.stop(STOP_GRACE_S)
        if moto is not None:
            moto.stop()
        if database is not None:
            database.stop()
        print("stopped.", flush=True)
    return 0
