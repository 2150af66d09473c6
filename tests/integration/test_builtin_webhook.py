"""webhook jobs against a real HTTP server on loopback, and the SSRF guard."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Receiver, Stack, assert_error


def webhook(stack: Stack, tok: str, url: str, **config: Any) -> dict[str, Any]:
    return stack.schedule(tok, type="webhook", payload={"url": url, **config}, maxRetries=0)


def test_an_allow_listed_webhook_delivers_and_records_the_answer(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1/32",))
    job = webhook(stack, admin, f"http://{receiver}/hook", body={"event": "daily_sync"}, headers={"X-Test": "1"})
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["status_code"] == 200 and done.result["body"] == '{"ok": true}'
    assert done.result["elapsed_ms"] >= 0
    [request] = Receiver.received
    assert json.loads(request["body"]) == {"event": "daily_sync"}
    assert request["headers"]["X-Test"] == "1"


def test_a_non_2xx_answer_fails_the_attempt(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1",))
    job = webhook(stack, admin, f"http://{receiver}/fail")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "answered 500" in (failed.error or "")


def test_a_loopback_target_is_refused_without_the_allow_list(stack: Stack, admin: str, receiver: str) -> None:
    port = receiver.split(":")[1]
    job = webhook(stack, admin, f"http://localhost:{port}/hook")  # a name that resolves to loopback
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused: localhost resolves to" in (failed.error or "")
    assert Receiver.received == []


def test_a_redirect_to_an_address_not_allowed_is_refused(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.split(":")[1]
    stack.configure(monkeypatch, webhook_allowlist=("localhost",))  # the first hop's host only
    job = webhook(stack, admin, f"http://localhost:{port}/hop?to=http://127.0.0.1:{port}/inside")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused: 127.0.0.1" in (failed.error or "")
    assert [r["path"] for r in Receiver.received] == [f"/hop?to=http://127.0.0.1:{port}/inside"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "ftp://example.com/file",
        "not a url",
    ],
)
def test_internal_addresses_and_other_schemes_are_a_400_at_creation(stack: Stack, admin: str, url: str) -> None:
    response = stack.post(
        "/api/background-jobs/schedule", {"type": "webhook", "storeId": "store-a", "payload": {"url": url}}, admin
    )
    body = assert_error(response, 400, "validation_error")
    assert body["details"][0]["field"] == "payload.url"


class FakeNameServer:
    """Answers chosen names like a (hostile) DNS server would; every other name resolves for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.answers:
            return self._real(host, port, *args, **kwargs)
        self.asked.append(host)
        # A rebinding server answers with the next address each time it is asked.
        address = self.answers[host][min(len(self.asked) - 1, len(self.answers[host]) - 1)]
        return self._real(address, port, *args, **kwargs)


def test_a_name_rebound_after_the_check_reaches_only_the_checked_ip(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1/32",))
    dns = FakeNameServer(monkeypatch, {"rebind.example": ["127.0.0.1", "169.254.169.254"]})
    port = receiver.split(":")[1]
    job = webhook(stack, admin, f"http://rebind.example:{port}/hook", body={"n": 1})
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    assert dns.asked == ["rebind.example"]  # resolved once, by the check; the connection used that answer
    [request] = Receiver.received
    assert request["headers"]["Host"] == f"rebind.example:{port}"


def self_signed_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real HTTPS server on loopback whose certificate names hooks.example; yields its port and CA file."""
    cert, key = self_signed_certificate(tmp_path, "hooks.example")
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()


@pytest.mark.parametrize(("name", "delivered"), [("hooks.example", True), ("other.example", False)])
def test_https_to_a_pinned_address_checks_the_certificate_against_the_name(
    stack: Stack,
    admin: str,
    tls_receiver: tuple[int, Path],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    delivered: bool,
) -> None:
    port, ca_file = tls_receiver
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1/32",))
    stack.configure(monkeypatch, ca_bundle=str(ca_file))
    FakeNameServer(monkeypatch, {name: ["127.0.0.1"]})
    job = webhook(stack, admin, f"https://{name}:{port}/hook", body={"n": 1})
    stack.poller.drain()
    done = stack.job(job["id"])
    if delivered:
        assert done.status == JobStatus.COMPLETED, done.error
        assert Receiver.received[0]["headers"]["Host"] == f"hooks.example:{port}"
    else:  # the certificate is for hooks.example, not for the name the job asked for
        assert done.status == JobStatus.FAILED and "SSLError" in (done.error or "")
        assert Receiver.received == []


@pytest.mark.parametrize("address", ["10.1.2.3", "169.254.169.254", "192.168.0.10", "::1", "fd00:ec2::254"])
def test_a_public_looking_name_that_resolves_inside_is_refused(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    dns = FakeNameServer(monkeypatch, {"hooks.partner.example": [address]})
    job = webhook(stack, admin, "https://hooks.partner.example/callback")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert f"refused: hooks.partner.example resolves to {address}" in (failed.error or "")
    assert dns.asked == ["hooks.partner.example"]


def test_an_allowed_name_redirecting_to_the_metadata_service_is_refused(
    stack: Stack, admin: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.split(":")[1]
    stack.configure(monkeypatch, webhook_allowlist=("public.example",))  # stands for a public host
    FakeNameServer(monkeypatch, {"public.example": ["127.0.0.1"]})
    job = webhook(stack, admin, f"http://public.example:{port}/hop?to=http://169.254.169.254/latest/meta-data/")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused: 169.254.169.254 is not a public address" in (failed.error or "")


class Recorder(BaseHTTPRequestHandler):
    """Records each request with the port it came in on; /hop answers 302 to the URL in its query."""

    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        port = self.server.server_address[1]
        Recorder.seen.append({"port": port, "method": self.command, "path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/hop"):
            self.send_response(302)
            self.send_header("Location", unquote(self.path.split("to=", 1)[1]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def two_servers() -> Iterator[tuple[int, int]]:
    """Two real HTTP servers on 127.0.0.1, on two ports: two origins."""
    Recorder.seen = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers[0].server_address[1], servers[1].server_address[1]
    for server in servers:
        server.shutdown()


CREDENTIALS = {
    "Authorization": "Bearer a-token-for-a-only",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
    "X-Api-Key": "key-for-a-only",
    "Cookie": "session=for-a-only",
}


@pytest.mark.parametrize("cross_origin", [True, False])
def test_credentials_follow_a_redirect_only_to_the_same_origin(
    stack: Stack, admin: str, two_servers: tuple[int, int], monkeypatch: pytest.MonkeyPatch, cross_origin: bool
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1/32",))
    port_a, port_b = two_servers
    to = f"http://127.0.0.1:{port_b}/hook" if cross_origin else "/hook"
    job = webhook(stack, admin, f"http://127.0.0.1:{port_a}/hop?to={to}", headers={**CREDENTIALS, "X-Trace": "t1"})
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    first, second = Recorder.seen
    assert first["port"] == port_a and all(first["headers"][name] == value for name, value in CREDENTIALS.items())
    assert second["port"] == (port_b if cross_origin else port_a) and second["path"] == "/hook"
    assert second["headers"]["X-Trace"] == "t1"
    kept = {name: second["headers"].get(name) for name in CREDENTIALS}
    assert kept == ({name: None for name in CREDENTIALS} if cross_origin else CREDENTIALS)


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:{port}\\@8.8.8.8/", "may not contain"),
        ("http://user:pw@127.0.0.1:{port}/hook", "user name or password"),
        ("http://127.0.0.1:{port}/ho\tok", "may not contain"),
        ("http://2130706433:{port}/hook", "not a canonical IPv4"),
    ],
)
def test_a_redirect_location_that_breaks_the_url_rules_is_refused(
    stack: Stack,
    admin: str,
    two_servers: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    location: str,
    reason: str,
) -> None:
    stack.configure(monkeypatch, webhook_allowlist=("127.0.0.1/32",))
    port_a, port_b = two_servers
    to = quote(location.format(port=port_b), safe="")
    job = webhook(stack, admin, f"http://127.0.0.1:{port_a}/hop?to={to}")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "refused:" in (failed.error or "") and reason in (failed.error or "")
    assert [r["port"] for r in Recorder.seen] == [port_a]
