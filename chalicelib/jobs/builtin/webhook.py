"""``webhook``: call an external HTTP endpoint; non-2xx or a timeout fails the attempt."""

from __future__ import annotations

import json
import time
from typing import Any, Literal
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler
from chalicelib.jobs.builtin.ssrf import BlockedAddressError, check_url_syntax, resolve_checked

MAX_REDIRECTS = 5
MAX_RESULT_BODY_CHARS = 2000


class WebhookError(Exception):
    """Raised when the endpoint answers non-2xx, or cannot be reached: the attempt fails and retries."""


class WebhookConfig(BaseModel):
    """The guide's webhook configuration."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    body: Any = None
    timeout: float = Field(default=30, gt=0, le=300, description="seconds")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _reachable_kind_of_url(cls, value: str) -> str:
        try:
            return check_url_syntax(value)
        except BlockedAddressError as exc:
            raise ValueError(str(exc)) from None


class WebhookJob(ConfiguredJobHandler[WebhookConfig]):
    """Sends the configured request, following redirects only to addresses it may reach."""

    config_model = WebhookConfig

    def run(self, config: WebhookConfig) -> dict[str, Any]:
        data = config.body if isinstance(config.body, str) or config.body is None else json.dumps(config.body)
        headers = dict(config.headers)
        if config.body is not None and not isinstance(config.body, str):
            headers.setdefault("Content-Type", "application/json")
        url, method = config.url, config.method
        # Deferred: ~40 ms of cold start for every function, used by one job type.
        import requests

        from chalicelib.jobs.builtin.pinned_http import send_pinned

        started = time.monotonic()
        for _ in range(MAX_REDIRECTS + 1):
            try:
                addresses = resolve_checked(url)
            except BlockedAddressError as exc:
                raise WebhookError(f"refused: {exc}") from None
            try:
                response = send_pinned(method, url, addresses, headers=headers, data=data, timeout=config.timeout)
            except requests.RequestException as exc:
                raise WebhookError(f"{method} {url} failed: {type(exc).__name__}") from None
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                if response.status_code in (301, 302, 303) and method != "GET":
                    method, data = "GET", None  # what browsers and requests do
                continue
            break
        else:
            raise WebhookError(f"more than {MAX_REDIRECTS} redirects")
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        text = response.text[:MAX_RESULT_BODY_CHARS]
        self.log(f"{method} {url} -> {response.status_code} in {elapsed_ms} ms")
        if not 200 <= response.status_code < 300:
            raise WebhookError(f"{method} {url} answered {response.status_code}: {text[:300]}")
        return {"status_code": response.status_code, "elapsed_ms": elapsed_ms, "body": text, "url": url}
