"""Keep secret values out of log lines, error messages and results (pure).

``masking`` hides values by where they sit (a key named like a credential). A secret can also
escape as text: a ``{{secret:...}}`` value echoed in an error, a token in a URL, a header a
server reflects in its answer. So a running built-in job collects every value it must not show,
and everything it logs, raises or returns passes through ``scrub``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.masking import MASK, is_sensitive, url_credentials

# Shorter values ("1", "yes") would scrub ordinary words out of every line.
MIN_SECRET_CHARS = 4
AUTH_SCHEMES = ("bearer ", "basic ", "token ", "digest ")


def sensitive_values(value: Any) -> set[str]:
    """Values under credential keys, the credential after an auth scheme, and credential URL parameters."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                isinstance(key, str)
                and is_sensitive(key)
                and isinstance(item, str | int)
                and not isinstance(item, bool)
            ):
                found |= _with_credential_part(str(item))
            else:
                found |= sensitive_values(item)
    elif isinstance(value, list):
        for item in value:
            found |= sensitive_values(item)
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        found |= url_credentials(value)
    return {text for text in found if len(text) >= MIN_SECRET_CHARS}


def _with_credential_part(text: str) -> set[str]:
    values = {text}
    lowered = text.lower()
    for scheme in AUTH_SCHEMES:
        if lowered.startswith(scheme):
            values.add(text[len(scheme) :].strip())
    return values


def scrub(text: str, secrets: Iterable[str]) -> str:
    # Longest first: a secret that contains another must go whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub_deep(value: Any, secrets: Iterable[str]) -> Any:
    ordered = sorted(set(secrets), key=len, reverse=True)
    if not ordered:
        return value
    if isinstance(value, str):
        return scrub(value, ordered)
    if isinstance(value, dict):
        return {k: scrub_deep(v, ordered) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_deep(v, ordered) for v in value]
    return value
