"""Outbound-address policy for webhooks: no private, loopback, link-local or metadata targets.

Checked after DNS resolution (a public name may point inside) and again on every redirect. The
operator allow-list ``TICKWORK_WEBHOOK_ALLOWLIST`` (comma-separated host names, IPs or CIDRs)
lets chosen internal targets through, e.g. a test server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(Exception):
    """Raised when a URL's host is, or resolves to, an address webhooks may not reach."""


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def from_env(cls) -> Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in os.environ.get("TICKWORK_WEBHOOK_ALLOWLIST", "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def permits(self, host: str, address: IPAddress) -> bool:
        return host.lower() in self.hosts or any(address in network for network in self.networks)


def is_public(address: IPAddress) -> bool:
    # ::ffff:127.0.0.1 is loopback in disguise; judge the IPv4 inside.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_global is False for private, loopback, link-local (169.254.169.254, the metadata
    # service), shared (100.64/10), reserved, unique-local (fd00:ec2::254) and documentation ranges.
    return address.is_global and not address.is_multicast


def check_url_syntax(url: str) -> str:
    """Scheme and host only (creation time): a literal internal IP is refused here already."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddressError("the URL must be http(s)://host/...")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if not is_public(literal) and not Allowlist.from_env().permits(parts.hostname, literal):
        raise BlockedAddressError(f"{parts.hostname} is not a public address")
    return url


def resolve_checked(url: str, allowlist: Allowlist | None = None) -> list[IPAddress]:
    """Every address the URL's host resolves to, if each may be reached; else BlockedAddressError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    check_url_syntax(url)
    allowlist = allowlist or Allowlist.from_env()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddressError(f"{host} does not resolve: {exc}") from None
    addresses = sorted({ipaddress.ip_address(info[4][0]) for info in infos}, key=str)
    for address in addresses:
        if not is_public(address) and not allowlist.permits(host, address):
            raise BlockedAddressError(f"{host} resolves to {address}, which is not a public address")
    return addresses
