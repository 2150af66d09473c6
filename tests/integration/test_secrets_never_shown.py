"""No response, result, log line or error shows a secret given by {{secret:}}, {{env:}} or a credential header."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack

SSM_SECRET = "ssm-secret-value-4711"
ENV_SECRET = "env-secret-value-0815"
HEADER_SECRET = "literal-plugin-key-9999"
QUERY_SECRET = "query-api-key-1234"
SECRETS = (SSM_SECRET, ENV_SECRET, HEADER_SECRET, QUERY_SECRET)


class Echo(BaseHTTPRequestHandler):
    """Answers with everything it was sent, as a careless server (or an attacker's) would; /fail with 500."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        echoed = json.dumps(
            {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length).decode()}
        )
        payload = echoed.encode()
        self.send_response(500 if self.path.startswith("/fail") else 200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1",))
    stack.set_job_env(monkeypatch, TICKWORK_PUBLIC_SHOP_TOKEN=ENV_SECRET)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def configuration(base: str, path: str) -> dict[str, Any]:
    return {
        "url": f"{base}{path}?api_key={QUERY_SECRET}",
        "headers": {
            "Authorization": "Bearer {{secret:/tickwork/dev/shop/token}}",
            "X-Plugin-Key": HEADER_SECRET,
            "X-Trace": "{{env:TICKWORK_PUBLIC_SHOP_TOKEN}}",  # not a credential by name; secret by where it came from
        },
        "body": {"token_echo": "{{secret:/tickwork/dev/shop/token}}", "at": "{{current_time}}"},
    }


def everything_shown(stack: Stack, tok: str, job_id: str, cron_id: str | None = None) -> str:
    paths = [f"/api/background-jobs/{job_id}", f"/api/background-jobs/{job_id}/status", "/api/background-jobs"]
    if cron_id:
        paths += [f"/api/cron-jobs/{cron_id}", f"/api/cron-jobs/{cron_id}/executions", "/api/cron-jobs"]
    shown = []
    for path in paths:
        response = stack.get(path, tok)
        assert response.status_code == 200, (path, response.status_code)
        shown.append(response.body.decode())
    return "\n".join(shown)


@pytest.mark.parametrize("path", ["/hook", "/fail"])
def test_a_webhook_that_echoes_every_secret_back_shows_none_of_them(
    stack: Stack, admin: str, echo: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    stack.session.client("ssm").put_parameter(Name="/tickwork/dev/shop/token", Value=SSM_SECRET, Type="SecureString")
    # Our own loggers at every level; libraries at INFO (botocore's DEBUG dumps whole stored items).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="tickwork")
    job = stack.schedule(admin, type="webhook", payload=configuration(echo, path), maxRetries=0)
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == (JobStatus.COMPLETED if path == "/hook" else JobStatus.FAILED), done.error
    # The server did get the real values: scrubbing hides them from us, not from the request.
    sent = done.result["body"] if done.result else ""
    stored = json.dumps({"result": done.result, "error": done.error, "logs": done.logs})
    shown = everything_shown(stack, admin, job["id"]) + stored + caplog.text
    for secret in SECRETS:
        assert secret not in shown, secret
    assert "********" in (sent or done.error or "")


def test_a_cron_jobs_runs_and_views_show_no_secret(stack: Stack, admin: str, echo: str) -> None:
    stack.session.client("ssm").put_parameter(Name="/tickwork/dev/shop/token", Value=SSM_SECRET, Type="SecureString")
    body = {
        "name": "echo",
        "cron_expression": "*/5 * * * *",
        "job_type": "webhook",
        "configuration": configuration(echo, "/hook"),
        "store_id": "store-a",
    }
    cron = stack.post("/api/cron-jobs", body, admin).json_body["job"]
    run = stack.post(f"/api/cron-jobs/{cron['id']}/run", {}, admin).json_body["execution"]
    stack.poller.drain()
    assert stack.job(run["id"]).status == JobStatus.COMPLETED
    shown = everything_shown(stack, admin, run["id"], cron["id"])
    for secret in SECRETS:
        assert secret not in shown, secret


def test_a_secret_a_job_reveals_is_in_no_json_line_whoever_writes_it(
    stack: Stack,
    admin: str,
    echo: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack.session.client("ssm").put_parameter(Name="/tickwork/dev/shop/token", Value=SSM_SECRET, Type="SecureString")
    job = stack.schedule(admin, type="webhook", payload=configuration(echo, "/fail"), maxRetries=0)

    def leak(record: logging.LogRecord) -> bool:
        # A careless line about the job (a library's, a warning quoting what was sent): the
        # formatter must scrub it, as the handler scrubs its own.
        if record.name == "tickwork.worker" and not getattr(record, "leaked", False):
            logging.getLogger("tickwork.careless").warning("sent %s", SECRETS, extra={"leaked": True, "sent": SECRETS})
        return True

    worker_logger = logging.getLogger("tickwork.worker")
    worker_logger.addFilter(leak)
    try:
        stack.poller.drain()
    finally:
        worker_logger.removeFilter(leak)
    assert stack.job(job["id"]).status == JobStatus.FAILED
    output = capsys.readouterr().out
    careless = [json.loads(text) for text in output.splitlines() if "tickwork.careless" in text]
    assert careless and careless[0]["job_id"] == job["id"]
    assert "********" in careless[0]["message"]
    for secret in SECRETS:
        assert secret not in output, secret
