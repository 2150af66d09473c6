"""``webhook``: call an external HTTP endpoint; non-2xx or a timeout fails the attempt."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from chalicelib.config import Settings
from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler
from chalicelib.jobs.builtin.ssrf import (
    Allowlist,
    BlockedAddressError,
    Target,
    UnsafeUrlError,
    check_url_syntax,
    parse_target,
    redirect_target,
    resolve_checked,
)
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.masking import is_sensitive
from chalicelib.templating import ANY_BRACES

MAX_REDIRECTS = 5
MAX_RESULT_BODY_CHARS = 2000
# Never sent on to another origin; is_sensitive adds X-Api-Key, X-Auth-Token and their kind.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


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
    def _reachable_kind_of_url(cls, value: str, info: ValidationInfo) -> str:
        # A placeholder is only known at run time, where the rendered URL meets these rules again;
        # here it stands for a plain name, so the rest of the URL is still held to them.
        settings = info.context
        allowlist = Allowlist.of(settings.webhook_allowlist if isinstance(settings, Settings) else ())
        try:
            check_url_syntax(ANY_BRACES.sub("x", value), allowlist)
            return value
        except BlockedAddressError as exc:
            raise ValueError(str(exc)) from None


def without_credentials(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if not _is_credential(name)}


def _is_credential(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS or is_sensitive(name)


def _refused(exc: BlockedAddressError) -> Exception:
    """A broken URL rule or pin fails the job at once; an address refused may resolve otherwise later."""
    message = f"refused: {exc}"
    return PermanentJobError(message) if isinstance(exc, UnsafeUrlError) else WebhookError(message)


class WebhookJob(ConfiguredJobHandler[WebhookConfig]):
    """Sends the configured request, following redirects only to addresses it may reach."""

    config_model = WebhookConfig

    def run(self, config: WebhookConfig) -> dict[str, Any]:
        data = config.body if isinstance(config.body, str) or config.body is None else json.dumps(config.body)
        headers = dict(config.headers)
        if config.body is not None and not isinstance(config.body, str):
            headers.setdefault("Content-Type", "application/json")
        method = config.method
        # Deferred: ~40 ms of cold start for every function, used by one job type.
        import requests

        from chalicelib.jobs.builtin.pinned_http import send_pinned

        settings = self.platform.settings
        allowlist = Allowlist.of(settings.webhook_allowlist)
        started = time.monotonic()
        try:
            target = parse_target(config.url)
        except BlockedAddressError as exc:
            raise _refused(exc) from None
        for _ in range(MAX_REDIRECTS + 1):
            try:
                addresses = resolve_checked(target, allowlist)
                response = send_pinned(
                    method,
                    target.url,
                    addresses,
                    headers=headers,
                    data=data,
                    timeout=config.timeout,
                    ca_bundle=settings.ca_bundle,
                )
            except BlockedAddressError as exc:
                raise _refused(exc) from None
            except requests.RequestException as exc:
                raise WebhookError(f"{method} {target.url} failed: {type(exc).__name__}") from None
            if response.is_redirect and "location" in response.headers:
                target, headers = self._follow(target, response.headers["location"], headers)
                if response.status_code in (301, 302, 303) and method != "GET":
                    method, data = "GET", None  # what browsers and requests do
                continue
            break
        else:
            raise WebhookError(f"more than {MAX_REDIRECTS} redirects")
        url = target.url
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        text = response.text[:MAX_RESULT_BODY_CHARS]
        self.log(f"{method} {url} -> {response.status_code} in {elapsed_ms} ms")
        if not 200 <= response.status_code < 300:
            raise WebhookError(f"{method} {url} answered {response.status_code}: {text[:300]}")
        return {"status_code": response.status_code, "elapsed_ms": elapsed_ms, "body": text, "url": url}

    @staticmethod
    def _follow(current: Target, location: str, headers: dict[str, str]) -> tuple[Target, dict[str, str]]:
        """The redirect's target, and the headers it may see: credentials stay with their origin."""
        try:
            following = redirect_target(current, location)
        except BlockedAddressError as exc:
            raise _refused(exc) from None
        if following.origin != current.origin:
            headers = without_credentials(headers)
        return following, headers
