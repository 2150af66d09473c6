"""GET /api/health requests/s on Chalice's local server, stock vs tuned (TCP_NODELAY).

    .venv/bin/python -m bench.keepalive [--requests 300] [--seconds 10]

Serves the real app in-process with chalice.local.LocalDevServer on a free loopback port,
twice: with Chalice's stock request handler (Nagle on, listen backlog 5) and after
devstack.server.tune_chalice_local(). Each is measured over ONE keep-alive connection
(one http.client.HTTPConnection reused; every reconnect is counted) and with a new
connection per request. Each measurement stops at --requests or --seconds, whichever first.
Health needs no AWS: nothing here talks to moto.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_CHALICE_CLI_MODE", None)  # app.py would tune at import: stock must be measured first
os.environ.setdefault("TICKWORK_JWT_SECRET", "bench-secret-0123456789abcdef0123456789abcdef")

from chalice import local as chalice_local

PATH = "/api/health"
WARMUP_REQUESTS = 5
# What Chalice 1.34 ships with (socketserver's defaults): captured before anything tunes them.
STOCK_NODELAY: bool = chalice_local.ChaliceRequestHandler.disable_nagle_algorithm
STOCK_BACKLOG: int = chalice_local.ThreadedHTTPServer.request_queue_size


class QuietHandler(chalice_local.ChaliceRequestHandler):
    """Chalice's handler without the access log line per request (the same in both runs)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass


class StockHandler(QuietHandler):
    disable_nagle_algorithm = STOCK_NODELAY


class StockServer(chalice_local.ThreadedHTTPServer):
    request_queue_size = STOCK_BACKLOG


@dataclass
class Measurement:
    requests: int
    seconds: float
    reconnects: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mean_ms(self) -> float:
        return 1000 * self.seconds / self.requests if self.requests else 0.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_app() -> Any:
    """The app, switched to Chalice's thread-local request class once (as `chalice local` does)."""
    import app as app_module

    app_obj = app_module.app
    if not isinstance(app_obj, chalice_local.CustomLocalChalice):
        chalice_local.CustomLocalChalice.__bases__ = (chalice_local.LocalChalice, app_obj.__class__)
        app_obj.__class__ = chalice_local.CustomLocalChalice
    return app_obj


def start_server(app_obj: Any, handler_cls: type, server_cls: type) -> tuple[chalice_local.LocalDevServer, int]:
    from chalice.config import Config

    port = free_port()
    config = Config.create(app_name="tickwork", chalice_app=app_obj)
    server = chalice_local.LocalDevServer(
        app_obj, config, "127.0.0.1", port, handler_cls=handler_cls, server_cls=server_cls
    )
    threading.Thread(target=server.server.serve_forever, name="bench-http", daemon=True).start()
    return server, port


def stop_server(server: chalice_local.LocalDevServer) -> None:
    server.shutdown()
    server.server.server_close()


def get(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", PATH)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {PATH} answered {response.status}")


def over_one_connection(port: int, max_requests: int, max_seconds: float) -> Measurement:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(WARMUP_REQUESTS):
            get(conn)
        sock, reconnects, done = conn.sock, 0, 0
        start = time.perf_counter()
        deadline = start + max_seconds
        while done < max_requests and time.perf_counter() < deadline:
            get(conn)
            done += 1
            if conn.sock is not sock:  # http.client reopens silently if the server closed it
                sock, reconnects = conn.sock, reconnects + 1
        return Measurement(done, time.perf_counter() - start, reconnects)
    finally:
        conn.close()


def new_connection_each(port: int, max_requests: int, max_seconds: float) -> Measurement:
    def once() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            get(conn)
        finally:
            conn.close()

    for _ in range(WARMUP_REQUESTS):
        once()
    done = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    while done < max_requests and time.perf_counter() < deadline:
        once()
        done += 1
    return Measurement(done, time.perf_counter() - start, reconnects=done)


def measure(app_obj: Any, handler_cls: type, server_cls: type, args: argparse.Namespace) -> dict[str, Measurement]:
    server, port = start_server(app_obj, handler_cls, server_cls)
    try:
        return {
            "keepalive": over_one_connection(port, args.requests, args.seconds),
            "new": new_connection_each(port, args.requests, args.seconds),
        }
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keepalive", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement (at most)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement (at most)")
    args = parser.parse_args(argv)

    from devstack.server import tune_chalice_local

    app_obj = local_app()
    stock = measure(app_obj, StockHandler, StockServer, args)
    tune_chalice_local()
    tuned_nodelay = chalice_local.ChaliceRequestHandler.disable_nagle_algorithm
    tuned_backlog = chalice_local.ThreadedHTTPServer.request_queue_size
    tuned = measure(app_obj, QuietHandler, chalice_local.ThreadedHTTPServer, args)

    print(f"GET {PATH} on chalice.local.LocalDevServer, loopback, Python {platform.python_version()}")
    print(
        f"stock: TCP_NODELAY={STOCK_NODELAY}, backlog {STOCK_BACKLOG}; tuned: TCP_NODELAY={tuned_nodelay}, backlog {tuned_backlog}"
    )
    print(f"at most {args.requests} requests or {args.seconds:g} s per row\n")
    header = (
        f"{'client':<28} {'stock req/s':>12} {'(ms/req)':>9} {'tuned req/s':>12} {'(ms/req)':>9} {'tuned/stock':>12}"
    )
    print(header)
    print("-" * len(header))
    for key, label in (("keepalive", "one keep-alive connection"), ("new", "new connection per request")):
        s, t = stock[key], tuned[key]
        ratio = t.per_second / s.per_second if s.per_second else float("inf")
        print(
            f"{label:<28} {s.per_second:>12.1f} {s.mean_ms:>9.2f} {t.per_second:>12.1f} {t.mean_ms:>9.2f} {ratio:>11.1f}x"
        )
    reconnects = stock["keepalive"].reconnects + tuned["keepalive"].reconnects
    print(
        f"\nkeep-alive reconnects (should be 0): stock {stock['keepalive'].reconnects}, tuned {tuned['keepalive'].reconnects}"
    )
    return 0 if reconnects == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
