"""HTTP requests sent to an address checked beforehand, not to whatever DNS answers next.

Closes DNS rebinding: the SSRF check resolves the host, and if ``requests`` resolved it again to
connect, a hostile name server could answer "public" the first time and "169.254.169.254" the
second. So the URL carries the checked IP; the ``Host`` header, TLS SNI and the certificate check
keep the name.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from chalicelib.jobs.builtin.ssrf import IPAddress


class HostnameAdapter(HTTPAdapter):
    """Connects to an IP while speaking TLS to, and checking the certificate of, ``hostname``."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def pinned_url(url: str, address: IPAddress) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def host_header(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def send_pinned(
    method: str, url: str, addresses: list[IPAddress], *, headers: dict[str, str], data: Any, timeout: float
) -> requests.Response:
    """The request to the first checked address that accepts a connection; no redirects followed."""
    hostname = urlsplit(url).hostname or ""
    # Proxies from the environment would resolve the name themselves; certificates may still come from it.
    verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True
    last_error: requests.ConnectionError | None = None
    for address in sorted(addresses, key=lambda a: a.version):  # IPv4 first, as most clients do
        with requests.Session() as session:
            session.trust_env = False
            session.mount("https://", HostnameAdapter(hostname))
            try:
                return session.request(
                    method,
                    pinned_url(url, address),
                    headers={**headers, "Host": host_header(url)},
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                    verify=verify,
                )
            except requests.ConnectionError as exc:
                last_error = exc
    assert last_error is not None, "resolve_checked returns at least one address"
    raise last_error
