"""Finding the credentials a run's output must not show."""

from __future__ import annotations

from chalicelib.scrubbing import scrub, scrub_deep, sensitive_values


def test_credentials_are_found_under_keys_auth_schemes_and_url_params() -> None:
    config = {
        "url": "https://user:pa55word@example.com/x?token=abcd1234&page=2",
        "headers": {"Authorization": "Bearer tok-5678", "X-Api-Key": "key-0000", "Accept": "application/json"},
        "nested": [{"client_secret": "shh-1111"}, {"password": 1}],
    }
    assert sensitive_values(config) == {
        "pa55word",
        "abcd1234",
        "Bearer tok-5678",
        "tok-5678",
        "key-0000",
        "shh-1111",
    }
    assert scrub("sent Bearer tok-5678 to x", {"tok-5678", "Bearer tok-5678"}) == "sent ******** to x"
    assert scrub_deep({"a": ["x key-0000 y"], "n": 3}, {"key-0000"}) == {"a": ["x ******** y"], "n": 3}
