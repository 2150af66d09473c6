"""HTTP requests sent to an address checked beforehand, not to whatever DNS answers next.

Closes DNS rebinding: the SSRF check resolves the host, and if ``requests`` resolved it again to
connect, a hostile name server could answer "public" the first time and "169.254.169.254" the
second. So the URL carries the checked IP; the ``Host`` header, TLS SNI and the certificate check
keep the name.

Two checks make sure the pin holds: the pinned URL must read as that very IP and port to both
parsers ``requests`` uses (urllib3's ``parse_url`` to prepare, ``urlparse`` to pick the
connection), and the socket's peer must be that IP and port before a byte of the request goes out.
Either mismatch raises ``PinMismatchError``, which no retry can cure.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

from chalicelib.jobs.builtin.ssrf import IPAddress, Target, UnsafeUrlError, parse_target


class PinMismatchError(UnsafeUrlError):
    """Raised when the request would go, or went, somewhere other than the checked address."""


@dataclass(frozen=True)
class Peer:
    address: IPAddress
    port: int


def _peer_checked(base: type[HTTPConnection], peer: Peer) -> type[HTTPConnection]:
    class PeerCheckedConnection(base):  # type: ignore[valid-type, misc]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            host, port = sock.getpeername()[:2]
            if ipaddress.ip_address(host) != peer.address or port != peer.port:
                sock.close()
                raise PinMismatchError(f"connected to {host} port {port}, not to the checked {peer.address}")
            return sock

    return PeerCheckedConnection


class PinnedAdapter(HTTPAdapter):
    """Connects only to ``peer``; speaks TLS to, and checks the certificate of, ``hostname``."""

    def __init__(self, hostname: str, peer: Peer) -> None:
        self._hostname = hostname
        self._peer = peer
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # Plain-HTTP pools drop these TLS settings (urllib3's SSL_KEYWORDS).
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type(
                "PinnedHTTPConnectionPool",
                (HTTPConnectionPool,),
                {"ConnectionCls": _peer_checked(HTTPConnection, self._peer)},
            ),
            "https": type(
                "PinnedHTTPSConnectionPool",
                (HTTPSConnectionPool,),
                {"ConnectionCls": _peer_checked(HTTPSConnection, self._peer)},
            ),
        }


def pinned_url(target: Target, address: IPAddress) -> str:
    """``target``'s URL with ``address`` for its host; it must read as exactly that address and port."""
    host = f"[{address}]" if address.version == 6 else str(address)
    pinned = parse_url(target.url)._replace(host=host, port=target.port).url
    parsed, split = parse_url(pinned), urlsplit(pinned)
    for read_host, read_port in ((parsed.host, parsed.port), (split.hostname, split.port)):
        if read_host is None or ipaddress.ip_address(read_host.strip("[]")) != address or read_port != target.port:
            raise PinMismatchError(f"the pinned URL {pinned} does not read as {address} port {target.port}")
    return pinned


def send_pinned(
    method: str,
    url: str,
    addresses: list[IPAddress],
    *,
    headers: dict[str, str],
    data: Any,
    timeout: float,
    ca_bundle: str | None = None,
) -> requests.Response:
    """The request to the first checked address that accepts a connection; no redirects followed.

    Proxies from the environment would resolve the name themselves, so none is used; certificates
    come from ``ca_bundle`` (the settings') when given, else from the system.
    """
    target = parse_target(url)
    verify: bool | str = ca_bundle or True
    last_error: requests.ConnectionError | None = None
    for address in sorted(addresses, key=lambda a: a.version):  # IPv4 first, as most clients do
        with requests.Session() as session:
            session.trust_env = False
            adapter = PinnedAdapter(target.host, Peer(address, target.port))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                return session.request(
                    method,
                    pinned_url(target, address),
                    headers={**headers, "Host": target.authority},
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                    verify=verify,
                )
            except requests.ConnectionError as exc:
                last_error = exc
    assert last_error is not None, "resolve_checked returns at least one address"
    raise last_error
