"""The embedded moto server in a process of its own.

    python -m devstack.moto_process PORT

moto serves one request at a time (``devstack/moto_lock.py``) and every request is Python work
under the GIL. Run in the stack's own process, it shared one interpreter with the API, the
workers and the tick, whose boto3 clients sign, serialise and parse every call: each side
waited for the other. In a process of its own it has a CPU to itself and outlives a restart of
the code that calls it.

The child exits when its parent goes, even on a SIGKILL: it watches its stdin, a pipe only the
parent holds open.
"""

from __future__ import annotations

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

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.endpoint = f"http://{host}:{port}"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> MotoProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devstack.moto_process", str(self.port)],
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


def serve(port: int) -> int:
    from moto.server import ThreadedMotoServer

    from devstack.moto_lock import serialize_moto_requests

    serialize_moto_requests()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the stack, which then stops moto

    def parent_gone() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=parent_gone, name="parent-watch", daemon=True).start()
    print(READY, flush=True)
    # A timed wait: the SIGTERM handler runs on the main thread only between waits.
    while not stop.wait(0.25):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
