"""Hide secrets in what the API shows: values under sensitive keys, at any depth (pure).

Stored jobs keep the real values (the job needs them when it runs); only their public view is
masked. A key is sensitive when it names a credential: authorization, cookies, passwords, and
anything ending in key or containing token or secret (X-Plugin-Key, api_key, refreshToken...).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "********"
SENSITIVE_KEY = re.compile(
    r"(^|[-_])(authorization|proxy-authorization|cookie|set-cookie|password|passwd|pwd)$"
    r"|(key|apikey)$|token|secret|credential",
    re.IGNORECASE,
)


def is_sensitive(key: str) -> bool:
    return bool(SENSITIVE_KEY.search(key))


def mask(value: Any) -> Any:
    """A copy of ``value`` with every value under a sensitive key replaced by a mask."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_sensitive(k) and v not in (None, "") else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


def keep_masked(new: Any, old: Any) -> Any:
    """``new`` with every mask a client echoed back replaced by the stored value it hides.

    A client that reads a cron job (masked) and PUTs it back must not overwrite its secrets
    with the mask.
    """
    if isinstance(new, dict) and isinstance(old, dict):
        return {
            k: (
                old[k]
                if v == MASK and isinstance(k, str) and is_sensitive(k) and k in old
                else keep_masked(v, old.get(k))
            )
            for k, v in new.items()
        }
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [keep_masked(n, o) for n, o in zip(new, old, strict=True)]
    return new
