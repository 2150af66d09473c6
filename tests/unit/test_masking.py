"""Secrets in configurations and payloads never come back through the API."""

from __future__ import annotations

import pytest

from chalicelib.masking import MASK, is_sensitive, keep_masked, mask


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "authorization",
        "X-Plugin-Key",
        "api_key",
        "apiKey",
        "X-API-KEY",
        "access_token",
        "refreshToken",
        "client_secret",
        "password",
        "Cookie",
        "aws_credentials",
    ],
)
def test_credential_keys_are_sensitive(key: str) -> None:
    assert is_sensitive(key)


@pytest.mark.parametrize("key", ["url", "method", "keyboard", "monkey_count", "body", "event", "timeout", "keys"])
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_sensitive(key)


def test_mask_reaches_nested_headers_and_lists() -> None:
    value = {"headers": {"Authorization": "Bearer abc", "Accept": "json"}, "items": [{"password": "p", "n": 1}]}
    assert mask(value) == {"headers": {"Authorization": MASK, "Accept": "json"}, "items": [{"password": MASK, "n": 1}]}
    assert value["headers"]["Authorization"] == "Bearer abc"  # a copy: the stored value is untouched


def test_credentials_in_a_url_are_masked_and_an_echoed_mask_keeps_them() -> None:
    stored = {"url": "https://bot:pa55@hooks.example.com/x?api_key=k-123&page=2&token="}
    shown = mask(stored)
    assert shown == {"url": "https://bot:********@hooks.example.com/x?api_key=********&page=2&token="}
    assert keep_masked(shown, stored) == stored
    changed = {"url": "https://hooks.example.com/y?api_key=********"}
    assert keep_masked(changed, stored) == changed  # a different URL is the client's own
