"""Shared fixtures: moto's real DynamoDB/SQS APIs in-process, the Chalice test client, tokens."""

from __future__ import annotations

import os

# Before anything imports app.py: Chalice reads queue names at import.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["TICKWORK_JWT_SECRET"] = "test-secret-0123456789abcdef0123456789abcdef"

import dataclasses
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from chalice.test import Client
from hypothesis import settings as hypothesis_settings
from moto import mock_aws

import app as app_module
import tests.handlers  # noqa: F401 - registers the test-kit job types
from chalicelib import runtime
from chalicelib.auth import Role, mint_token
from chalicelib.aws.provision import provision
from chalicelib.clock import ManualClock
from chalicelib.config import Settings, queue_name
from chalicelib.jobs.lifecycle import PRIORITY_ORDER
from chalicelib.runtime import Runtime
from devstack.moto_lock import serialize_moto_requests
from devstack.pollers import QueuePoller

# The fault suite's --size option and its closing summary (hooks only a root conftest or a plugin
# it names can register), and the packaged template the deploy tests share.
pytest_plugins = ["tests.faults.report", "tests.deploy_kit"]

# The model-based tests (tests/integration/test_model_state_machines.py) run a fixed set of examples by
# default; `pytest --hypothesis-profile=deep` runs thousands of random ones.
hypothesis_settings.register_profile("deep", max_examples=1000, deadline=None)

serialize_moto_requests()  # conditional writes atomic, as in DynamoDB (see devstack/moto_lock.py)

SECRET = os.environ["TICKWORK_JWT_SECRET"]
T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def token(
    role: str = "admin", *, stores: list[str] | None = None, plugin_id: str | None = None, sub: str = "tester"
) -> str:
    return mint_token(SECRET, role=Role(role), subject=sub, stores=stores, plugin_id=plugin_id)


ERROR_KEYS = {"success", "error", "code", "details"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """A 4xx in the one error shape (success, error, code, details), with the expected machine code."""
    body = response.json_body
    assert response.status_code == status, body
    assert set(body) == ERROR_KEYS, body
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"].strip()
    assert body["code"] == code, body
    assert isinstance(body["details"], list)
    return body


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}


@dataclass
class Stack:
    """One test's AWS world: moto in-process, the runtime the app uses, a worker poller."""

    runtime: Runtime
    clock: ManualClock | None
    poller: QueuePoller
    session: Any
    client: Client

    def post(self, path: str, body: Any, tok: str) -> Any:
        raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.http.post(path, headers=auth(tok), body=raw)

    def get(self, path: str, tok: str) -> Any:
        return self.client.http.get(path, headers=auth(tok))

    def schedule(self, tok: str, **fields: Any) -> dict[str, Any]:
        body = {"type": "plugin:my-plugin:import", "storeId": "store-a", "payload": {"count": 3}}
        body.update(fields)
        response = self.post("/api/background-jobs/schedule", body, tok)
        assert response.status_code in (200, 201), response.json_body
        return response.json_body["job"]

    def job(self, job_id: str) -> Any:
        """The stored job as the API shows it: values kept in S3 and its log lines read back."""
        job = self.runtime.store.get(job_id)
        return None if job is None else self.runtime.store.shown([job], with_logs=True)[0]

    def configure(self, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
        """The rest of the test runs as a deploy whose variables set ``changes`` (fields of Settings)."""
        monkeypatch.setattr(self.runtime, "settings", dataclasses.replace(self.runtime.settings, **changes))
        for built in ("jobs", "worker", "crons", "tick"):  # built again, with the new settings
            if built in self.runtime.__dict__:
                monkeypatch.delitem(self.runtime.__dict__, built)

    def set_job_env(self, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
        """Variables a job's {{env:NAME}} may read, as if the process had been started with them."""
        self.configure(monkeypatch, job_environment={**self.runtime.settings.job_environment, **values})


def make_stack(settings: Settings, clock: ManualClock | None, *, clocked_pollers: bool = False) -> Stack:
    """``clocked_pollers``: the pollers' queue aging reads ``clock`` too, so a run replays exactly."""
    session = boto3.session.Session(region_name="us-east-1")
    provision(session, settings)
    rt = Runtime(settings=settings, clock=clock, session=session)
    runtime.use(rt)
    sqs = session.client("sqs")
    urls = {
        p: sqs.get_queue_url(QueueName=queue_name(settings.queue_prefix, p.value))["QueueUrl"] for p in PRIORITY_ORDER
    }
    workers = {p: app_module.WORKERS[p.value] for p in PRIORITY_ORDER}
    extra: dict[str, Any] = {}
    if clocked_pollers and clock is not None:
        extra["monotonic"] = lambda: clock.now().timestamp()
    poller = QueuePoller(
        sqs=sqs, queue_urls=urls, workers=workers, region="us-east-1", receive_visibility_s=settings.lease_s, **extra
    )
    return Stack(runtime=rt, clock=clock, poller=poller, session=session, client=Client(app_module.app))


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env().__class__(
        jobs_table="tickwork-jobs",
        queue_prefix="tickwork-",
        backoff_s=(0, 0, 0),
        lease_s=30,
        progress_interval_s=1.0,
        jwt_secret=SECRET,
    )


@contextmanager
def built_stack(
    settings: Settings, clock: ManualClock | None = None, *, clocked_pollers: bool = False
) -> Iterator[Stack]:
    with mock_aws():
        built = make_stack(settings, clock=clock, clocked_pollers=clocked_pollers)
        try:
            yield built
        finally:
            runtime.use(None)


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    with built_stack(settings) as built:
        yield built


@pytest.fixture
def clocked_stack(settings: Settings) -> Iterator[Stack]:
    """A stack whose job clock moves only when the test says (SQS keeps real time)."""
    with built_stack(settings, ManualClock(T0)) as built:
        yield built


@pytest.fixture
def served_stack(settings: Settings) -> Iterator[Stack]:
    """The stack, plus the app served over real HTTP in this process (so api_call can reach it)."""
    from devstack.stack import build_http_server, free_port

    port = free_port()
    with built_stack(dataclasses.replace(settings, api_base_url=f"http://127.0.0.1:{port}"), ManualClock(T0)) as stack:
        server = build_http_server(app_module.app, "127.0.0.1", port)
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield stack
        finally:
            server.shutdown()


@pytest.fixture
def admin() -> str:
    return token("admin")


@pytest.fixture
def owner_a() -> str:
    return token("store_owner", stores=["store-a"], sub="owner-a")


class Receiver(BaseHTTPRequestHandler):
    """Records what it receives; /fail answers 500; /hop redirects to the URL in its query."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        Receiver.received.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if self.path.startswith("/hop"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = 500 if self.path == "/fail" else 200
        payload = b'{"ok": true}' if status == 200 else b"boom"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session. Under CI its absence fails the run (`.ci/run` installs it)."""
    from devstack.postgres import PostgresUnavailableError, ThrowawayPostgres
    from devstack.stack import free_port

    try:
        server = ThrowawayPostgres(free_port())
        url = server.start()
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed for database_query tests: {exc}")
        pytest.skip(f"no PostgreSQL server binaries here ({exc}); `.ci/run` installs them")
    yield url
    server.stop()


@pytest.fixture
def database(postgres_url: str, monkeypatch: pytest.MonkeyPatch, stack: Stack) -> Iterator[Any]:
    """DATABASE_URL set for the job, and a connection to look at the data with; tables are dropped after."""
    import pg8000.native

    from chalicelib.jobs.builtin.database_query import connection_target

    stack.configure(monkeypatch, database_url=postgres_url)
    connection = pg8000.native.Connection(**connection_target(postgres_url))
    yield connection
    connection.run("DROP SCHEMA public CASCADE")
    connection.run("CREATE SCHEMA public")
    connection.close()
