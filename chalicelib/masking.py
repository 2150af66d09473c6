"""Hide secrets in what the API shows: values under sensitive keys, at any depth (pure).

Stored jobs keep the real values (the job needs them when it runs); only their public view is
masked. A key is sensitive when it names a credential: authorization, cookies, passwords, and
anything ending in key or containing token or secret (X-Plugin-Key, api_key, refreshToken...).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "********"
SENSITIVE_KEY = re.compile(
    r"(^|[-_])(authorization|proxy-authorization|cookie|set-cookie|password|passwd|pwd)$"
    r"|(key|apikey)$|token|secret|credential",
    re.IGNORECASE,
)


def is_sensitive(key: str) -> bool:
    return bool(SENSITIVE_KEY.search(key))


def url_credentials(url: str) -> set[str]:
    """The password and the values of credential-named query parameters in ``url``."""
    try:
        parts = urlsplit(url)
        found = {value for key, value in parse_qsl(parts.query) if is_sensitive(key) and value}
        if parts.password:
            found.add(parts.password)
    except ValueError:
        return set()
    return found


def mask_url(url: str) -> str:
    """``url`` with its password and credential-named query parameters (``?api_key=``) masked."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        hidden_query = [(k, MASK if is_sensitive(k) and v else v) for k, v in query]
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    except ValueError:
        return url
    if hidden_query == query and netloc == parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(hidden_query, safe="*")))


def mask(value: Any) -> Any:
    """A copy of ``value`` with every value under a sensitive key, or in a URL's credentials, masked."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return mask_url(value)
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
    if isinstance(new, str) and isinstance(old, str) and new != old and new == mask_url(old):
        return old
    return new


def echoed_masks(new: Any, old: Any, path: str = "configuration") -> list[str]:
    """Where ``new`` echoes a mask that ``keep_masked`` would fill in from ``old`` (field paths)."""
    if isinstance(new, dict) and isinstance(old, dict):
        found = [
            f"{path}.{k}" for k, v in new.items() if v == MASK and isinstance(k, str) and is_sensitive(k) and k in old
        ]
        for k, v in new.items():
            if f"{path}.{k}" not in found:
                found.extend(echoed_masks(v, old.get(k), f"{path}.{k}"))
        return found
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [p for i, (n, o) in enumerate(zip(new, old, strict=True)) for p in echoed_masks(n, o, f"{path}[{i}]")]
    if isinstance(new, str) and isinstance(old, str) and new != old and new == mask_url(old):
        return [path]
    return []


# Configuration keys that say where a job sends what it carries.
DESTINATION_KEYS = ("url", "to", "cc", "bcc")


def destination(job_type: str, configuration: Any) -> tuple[str, ...]:
    """Where a configuration sends its secrets: its type and the values of its destination keys.

    A mask shown to a client is a promise about this destination: echoed back with a new one, it
    would carry the stored secret somewhere its author never sent it.
    """
    values = configuration if isinstance(configuration, dict) else {}
    return (job_type, *(repr(values.get(key)) for key in DESTINATION_KEYS))
