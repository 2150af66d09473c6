"""Outbound-address policy for webhooks: no private, loopback, link-local or metadata targets.

A URL is read once, by urllib3's ``parse_url`` (the parser ``requests`` sends with), into a
``Target`` whose canonical string is the only one checked and the only one sent. The rules:

- Refused outright, at creation as at run time: a backslash (urllib3 ends the host there,
  ``urlsplit`` does not), a user name or password (``user:pass@``), whitespace and control
  characters, percent-encoding in the host, a trailing dot, an IPv6 zone id, and any URL whose
  host or port ``parse_url`` and ``urlsplit`` read differently.
- A host is either a DNS name (letters, digits, ``-``, ``_``; IDNA names as their A-labels) or a
  canonical IP literal: four decimal numbers, or an IPv6 address in brackets. Anything the OS
  would also take for an IPv4 address (``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``,
  ``127.1``) is refused rather than guessed at.
- An address is public when it is global and not multicast, and, for IPv6, when the IPv4
  address it carries is public: mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96`` and 6to4
  ``2002::/16``. IPv4-compatible ``::/96`` (with ``::``), site-local ``fec0::/10``, Teredo
  ``2001::/32`` and local-use NAT64 ``64:ff9b:1::/48`` are never public.
- Checked after DNS resolution (a public name may point inside: every address it resolves to
  must pass) and again on every redirect, whose ``Location`` obeys the same rules.

The operator allow-list ``TICKWORK_WEBHOOK_ALLOWLIST`` (comma-separated host names, IPs or CIDRs)
lets chosen internal addresses through, e.g. a test server on 127.0.0.1; it never relaxes the
URL rules.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS label as sent: A-labels only (urllib3 has already IDNA-encoded and lower-cased the name).
DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# The WHATWG URL standard reads a host whose last label is a number as IPv4, and so does inet_aton.
NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
NEVER_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(network)
    for network in ("::/96", "fec0::/10", "2001::/32", "64:ff9b:1::/48")  # compatible, site-local, Teredo, NAT64
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddressError(Exception):
    """Raised when a URL's host is, or resolves to, an address webhooks may not reach."""


class UnsafeUrlError(BlockedAddressError):
    """Raised when the URL itself breaks a rule: no retry and no DNS answer can make it acceptable."""


@dataclass(frozen=True)
class Target:
    """A URL as ``requests`` will send it; ``url`` is the one string both checked and sent."""

    url: str
    scheme: str
    host: str  # lower-case A-labels, or an IP literal without brackets
    port: int  # the explicit port, else the scheme's
    authority: str  # the Host header: host, and the port if the URL gives one
    literal: IPAddress | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def of(cls, entries: tuple[str, ...]) -> Allowlist:
        """From the settings' ``webhook_allowlist``: host names, addresses and networks."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
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


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translating or tunnelling IPv6 address delivers to, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # Python's is_global misses these (3.11 calls ::127.0.0.1 and fec0::1 global).
        if address.scope_id or any(address in network for network in NEVER_PUBLIC_V6):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    # is_global is False for private, loopback, link-local (169.254.169.254, the metadata
    # service), shared (100.64/10), reserved, unique-local (fd00:ec2::254) and documentation ranges.
    return address.is_global and not address.is_multicast


def forbidden_character(text: str) -> str | None:
    """The first backslash, whitespace or control character in ``text``, if any."""
    for char in text:
        if char == "\\" or char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            return char
    return None


def _idna(host: str) -> str:
    """``host`` IDNA-encoded the way urllib3 encodes it, so that both parsers' hosts compare."""
    if host.isascii():
        return host
    import idna  # a dependency of requests

    try:
        return idna.encode(host.lower(), strict=True, std3_rules=True).decode("ascii")
    except idna.IDNAError:
        raise UnsafeUrlError(f"{host!r} is not a valid international domain name") from None


def _split(url: str) -> tuple[Url, SplitResult, int | None]:
    """``url`` read by urllib3 and by urllib; a port either finds malformed is refused."""
    try:
        parsed, split = parse_url(url), urlsplit(url)
        return parsed, split, split.port
    except (LocationParseError, ValueError):
        raise UnsafeUrlError("the URL must be http(s)://host/...") from None


def _parsers_agree(parsed: Url, split: SplitResult, split_port: int | None) -> bool:
    scheme = parsed.scheme or ""
    default = DEFAULT_PORTS.get(scheme)
    split_host = _idna(split.hostname or "")
    # Case does not matter to DNS, and urllib3 leaves it alone in hosts that look numeric.
    return split_host == (parsed.host or "").strip("[]").lower() and (split_port or default) == (parsed.port or default)


def _host_literal(host: str) -> IPAddress | None:
    """The IP literal ``host`` is, or None for a valid DNS name; anything else is refused."""
    if host.startswith("["):
        try:
            return ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UnsafeUrlError(f"{host} is not an IPv6 address") from None
    if host.endswith("."):
        raise UnsafeUrlError(f"{host} ends in a dot")
    if NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]) or _inet_aton_accepts(host):
        try:
            return ipaddress.IPv4Address(host)  # only the canonical dotted quad parses here
        except ValueError:
            raise UnsafeUrlError(f"{host} is not a canonical IPv4 address (four decimal numbers)") from None
    if len(host) > 253 or not all(DNS_LABEL.fullmatch(label) for label in host.split(".")):
        raise UnsafeUrlError(f"{host} is not a valid host name")
    return None


def _inet_aton_accepts(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def parse_target(url: str) -> Target:
    """``url`` read as urllib3 reads it, if it keeps every rule above; else UnsafeUrlError."""
    char = forbidden_character(url)
    if char is not None:
        raise UnsafeUrlError(f"the URL may not contain {char!r} (backslashes, whitespace, control characters)")
    parsed, split, split_port = _split(url)
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise UnsafeUrlError("the URL must be http(s)://host/...")
    if parsed.auth is not None or "@" in split.netloc:
        raise UnsafeUrlError("the URL may not carry a user name or password (user:pass@host)")
    if "%" in split.netloc:
        raise UnsafeUrlError("the URL's host may not be percent-encoded or carry an IPv6 zone id")
    if not _parsers_agree(parsed, split, split_port):
        raise UnsafeUrlError(f"the URL's host reads differently to different parsers ({split.hostname!r})")
    host = parsed.host.lower()
    literal = _host_literal(host)
    canonical = parsed.url
    # Normalised once: re-reading the canonical string must give the same target, or it is not canonical.
    again, again_split, again_port = _split(canonical)
    if again.url != canonical or not _parsers_agree(again, again_split, again_port):
        raise UnsafeUrlError("the URL does not read the same once normalised")
    return Target(
        url=canonical,
        scheme=parsed.scheme,
        host=host.strip("[]"),
        port=parsed.port or DEFAULT_PORTS[parsed.scheme],
        authority=parsed.netloc or "",
        literal=literal,
    )


def redirect_target(current: Target, location: str) -> Target:
    """Where a redirect's ``Location`` leads from ``current``; it obeys the rules of any URL."""
    # Checked before urljoin, which silently drops tabs and newlines.
    char = forbidden_character(location)
    if char is not None:
        raise UnsafeUrlError(f"a redirect's Location may not contain {char!r}")
    return parse_target(urljoin(current.url, location))


def check_url_syntax(url: str, allowlist: Allowlist) -> str:
    """The URL rules, and a literal internal IP refused (creation time); returns ``url`` unchanged."""
    target = parse_target(url)
    literal = target.literal
    if literal is not None and not is_public(literal) and not allowlist.permits(target.host, literal):
        raise BlockedAddressError(f"{target.host} is not a public address")
    return url


def resolve_checked(target: Target, allowlist: Allowlist) -> list[IPAddress]:
    """Every address the target's host resolves to, if each may be reached; else BlockedAddressError."""
    check_url_syntax(target.url, allowlist)
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddressError(f"{target.host} does not resolve: {exc}") from None
    addresses = sorted({ipaddress.ip_address(info[4][0]) for info in infos}, key=str)
    for address in addresses:
        if not is_public(address) and not allowlist.permits(target.host, address):
            raise BlockedAddressError(f"{target.host} resolves to {address}, which is not a public address")
    return addresses
