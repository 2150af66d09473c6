"""A small client for the tickwork HTTP API, with its failures as sentences."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 15.0


class ConsoleError(Exception):
    """Raised for anything the CLI reports as one sentence and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body


class ApiError(ConsoleError):
    """Raised when the API answers with an error (its own sentence, code and details)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code") or "error")
        self.details: list[dict[str, Any]] = [d for d in body.get("details") or [] if isinstance(d, dict)]
        super().__init__(str(body.get("error") or f"The API answered HTTP {status}."), body=body)


class UnreachableError(ConsoleError):
    """Raised when no HTTP answer came back (refused, timed out, bad address)."""

    exit_code = 3


class UsageError(ConsoleError):
    """Raised when the command line lacks something the API needs (a token)."""

    exit_code = 2


def path_id(value: str) -> str:
    # An id goes into the path as one segment, whatever it contains.
    return quote(value, safe="")


@dataclass
class ApiClient:
    """Calls ``<base_url>/api/...`` with a bearer token; returns the decoded success body."""

    base_url: str
    token: str | None
    timeout_s: float = DEFAULT_TIMEOUT_S
    # One connection for a `follow` loop, not one per poll.
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def from_options(cls, url: str | None, token: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> ApiClient:
        base = (url or os.environ.get("TICKWORK_API_URL") or DEFAULT_API_URL).rstrip("/")
        if base.endswith("/api"):  # the URL `make run` prints
            base = base[: -len("/api")]
        return cls(base_url=base, token=token or os.environ.get("TICKWORK_TOKEN"), timeout_s=timeout_s)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return self.call("GET", path, params=clean)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call("POST", path, body=body)

    def public(self, path: str) -> dict[str, Any]:
        """GET a route that needs no token (health), with none if none was given."""
        return self.call("GET", path, public=True)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        public: bool = False,
    ) -> dict[str, Any]:
        if not self.token and not public:
            raise UsageError(
                "No token: pass --token or set TICKWORK_TOKEN "
                "(`python -m devstack.cli token --role admin` prints one for a local stack)."
            )
        url = f"{self.base_url}/api/{path.lstrip('/')}"
        try:
            answer = self.session.request(
                method,
                url,
                params=params,
                json=body if body is not None else ({} if method == "POST" else None),
                headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
                timeout=self.timeout_s,
            )
        except requests.ConnectionError as error:
            reason = "connection refused" if "refused" in str(error).lower() else "no connection"
            raise UnreachableError(
                f"Cannot reach the API at {self.base_url} ({reason}); start it with `make run` or pass --url."
            ) from None
        except requests.Timeout:
            raise UnreachableError(f"The API at {self.base_url} did not answer within {self.timeout_s:g} s.") from None
        except requests.RequestException as error:
            raise UnreachableError(f"Cannot call {url}: {error}.") from None
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConsoleError(f"The API at {self.base_url} answered HTTP {answer.status_code} without a JSON body.")
        if answer.status_code >= 400 or data.get("success") is False:
            raise ApiError(answer.status_code, data)
        return data
