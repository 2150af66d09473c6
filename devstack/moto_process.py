"""The embedded moto server in a process of its own.

    python -m devstack.moto_process PORT [--state FILE] [--snapshot-interval SECONDS]

moto serves one request at a time (``devstack/moto_lock.py``) and every request is Python work
under the GIL. Run in the stack's own process, it shared one interpreter with the API, the
workers and the tick, whose boto3 clients sign, serialise and parse every call: each side
waited for the other. In a process of its own it has a CPU to itself and outlives a restart of
the code that calls it.

The child exits when its parent goes, even on a SIGKILL: it watches its stdin, a pipe only the
parent holds open. With ``--state`` it restores that file before it answers and keeps it up to
date (devstack/snapshots.py), a last time when it stops or its parent goes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "ready"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


class MotoStartError(RuntimeError):
    pass


class MotoProcess:
    """``start()`` returns once moto answers on ``endpoint``; ``stop()`` ends the child."""

    def __init__(
        self, port: int, host: str = "127.0.0.1", *, state: Path | None = None, snapshot_interval_s: float | None = None
    ) -> None:
        self.port = port
        self.endpoint = f"http://{host}:{port}"
        self.state = state
        self._snapshot_interval_s = snapshot_interval_s
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> MotoProcess:
        command = [sys.executable, "-m", "devstack.moto_process", str(self.port)]
        if self.state is not None:
            command += ["--state", str(self.state.resolve())]
        if self._snapshot_interval_s is not None:
            command += ["--snapshot-interval", str(self._snapshot_interval_s)]
        self._process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        # The child prints READY once its server listens; anything else (or nothing) is a failure.
        line = self._process.stdout.readline().strip()
        if line != READY:
            self.stop()
            raise MotoStartError(f"moto on port {self.port} did not start (it said {line!r})")
        self._wait_answering()
        return self

    def _wait_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # an answer, whatever its status
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise MotoStartError(f"moto on port {self.port} never answered: {exc}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def serve(port: int, state: Path | None = None, snapshot_interval_s: float = 2.0) -> int:
    from moto.server import ThreadedMotoServer

    from devstack.moto_lock import request_lock, serialize_moto_requests
    from devstack.parent import when_parent_exits
    from devstack.snapshots import Snapshots

    serialize_moto_requests()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    endpoint = f"http://127.0.0.1:{port}"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    snapshots = None if state is None else Snapshots(state, endpoint, region, request_lock(), snapshot_interval_s)
    if snapshots is not None:
        snapshots.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    if snapshots is not None:
        started = time.monotonic()
        try:
            restored = snapshots.restore()
        except Exception:
            # Half restored is worse than not started: the file stays as it is, for a look or a FRESH=1.
            logging.getLogger("tickwork.snapshots").exception(
                "could not restore %s; `make run FRESH=1` (python -m devstack --fresh) starts empty", state
            )
            server.stop()
            return 1
        if restored:
            took = time.monotonic() - started
            logging.getLogger("tickwork.snapshots").info("restored %s from %s in %.2f s", restored, state, took)
        snapshots.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the stack, which then stops moto

    when_parent_exits(stop.set)
    print(READY, flush=True)
    # A timed wait: the SIGTERM handler runs on the main thread only between waits.
    while not stop.wait(0.25):
        pass
    if snapshots is not None:
        snapshots.close()  # while the server still answers: a part of it is read through the API
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.moto_process")
    parser.add_argument("port", type=int)
    parser.add_argument("--state", type=Path, help="restore this snapshot, and keep it up to date")
    parser.add_argument("--snapshot-interval", type=float, default=2.0, help="seconds between snapshots")
    args = parser.parse_args(argv)
    return serve(args.port, args.state, args.snapshot_interval)


if __name__ == "__main__":
    sys.exit(main())
