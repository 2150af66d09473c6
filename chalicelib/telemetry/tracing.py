"""The trace a request belongs to, in the one form SQS carries: an X-Ray trace header (pure).

SQS's ``AWSTraceHeader`` message system attribute takes an X-Ray header only
(``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>``); Lambda's SQS event source hands it to
the worker's invocation, so one trace spans request, queue and worker. A W3C ``traceparent`` is
converted the way X-Ray reads W3C trace ids (its first 8 hex digits become the Root's time part).
Anything else is dropped rather than sent: SQS would refuse the whole message for a malformed one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

XRAY_ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
XRAY_PARENT = re.compile(r"[0-9a-f]{16}")
TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# Longer is not a header any tracer writes; it would only cost bytes in every message.
MAX_HEADER_CHARS = 256


def from_xray(header: str) -> str | None:
    """The header's Root, Parent and Sampled parts, if its Root is an X-Ray trace id.

    Other parts (``Lineage``, ``Self``, a load balancer's own) are left out: SQS need not
    understand them, and a request could put anything there.
    """
    if len(header) > MAX_HEADER_CHARS:
        return None
    parts: dict[str, str] = {}
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        parts.setdefault(key.strip().lower(), value.strip())
    root = parts.get("root", "").lower()
    if not XRAY_ROOT.fullmatch(root):
        return None
    header = f"Root={root}"
    parent = parts.get("parent", "").lower()
    if XRAY_PARENT.fullmatch(parent):
        header += f";Parent={parent}"
    if parts.get("sampled") in ("0", "1"):
        header += f";Sampled={parts['sampled']}"
    return header


def from_traceparent(header: str) -> str | None:
    """A W3C ``traceparent`` as an X-Ray header; None for one that is malformed or invalid."""
    match = TRACEPARENT.fullmatch(header.strip().lower())
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None  # invalid by the W3C rules
    sampled = int(flags, 16) & 1
    return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={parent_id};Sampled={sampled}"


def trace_header_of(headers: Mapping[str, str]) -> str | None:
    """The X-Ray header for a request's headers (lowercase names): X-Ray's own first."""
    xray = headers.get("x-amzn-trace-id")
    if xray:
        converted = from_xray(xray)
        if converted is not None:
            return converted
    traceparent = headers.get("traceparent")
    return from_traceparent(traceparent) if traceparent else None
