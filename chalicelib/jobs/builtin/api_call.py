"""``api_call``: call a route of this service (a plugin's own endpoint) with its creator's rights.

The configured ``url`` is a path; the base is ``TICKWORK_API_BASE_URL`` (the embedded stack sets
it to its own address; on AWS it is the API Gateway stage URL). Each attempt mints a token with
the job's rights (chalicelib/rights.py: the creator's role, stores and plugin), valid no longer
than the attempt's request may last, so a store owner's call reaches what that owner could reach
and nothing more. Only an admin's job, or a plugin's declared cron job no one else has saved,
carries admin rights. The token must never reach another host: absolute URLs are refused at
creation and redirects are not followed.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.auth import mint_token
from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler

MAX_RESULT_BODY_CHARS = 2000
# Added to the request timeout: the token must outlive the request's own clock skew, no more.
TOKEN_GRACE_S = 5


class ApiCallError(Exception):
    """Raised when the internal route answers with a non-2xx status: the attempt fails and retries."""


class ApiCallConfig(BaseModel):
    """The guide's api_call configuration."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    url: str = Field(min_length=1, max_length=2000, description="a path of this API, e.g. /api/my-plugin/sync")
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
    def _relative_path(cls, value: str) -> str:
        # "//host/x" is protocol-relative: another host, with our token. Only plain paths pass.
        if not value.startswith("/") or value.startswith("//") or "\\" in value:
            raise ValueError("must be a path of this API starting with '/', e.g. /api/my-plugin/sync")
        return value


class ApiCallJob(ConfiguredJobHandler[ApiCallConfig]):
    """Calls an internal API route with a token of the job's rights; non-2xx fails the attempt."""

    config_model = ApiCallConfig

    def run(self, config: ApiCallConfig) -> dict[str, Any]:
        base = (self.platform.settings.api_base_url or "").rstrip("/")
        if not base:
            raise ApiCallError("TICKWORK_API_BASE_URL is not set: api_call does not know this API's address")
        rights = self.job.acting_rights
        token = mint_token(
            self.platform.jwt_secret,
            role=rights.role,
            subject=rights.subject,
            stores=rights.stores,
            plugin_id=rights.plugin_id,
            # Wall time, not the job clock: the API checks expiry against wall time.
            ttl_s=math.ceil(config.timeout) + TOKEN_GRACE_S,
        )
        self.keep_secret(token)
        headers = {k: v for k, v in config.headers.items() if k.lower() != "authorization"}
        headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Tickwork-Job-Id": self.job.id,
                "X-Tickwork-Store-Id": self.job.store_id,
            }
        )
        if self.job.cron_job_id:
            headers["X-Tickwork-Cron-Job-Id"] = self.job.cron_job_id
        import requests  # deferred: ~40 ms of cold start for every function, used by one job type

        started = time.monotonic()
        response = requests.request(
            config.method,
            base + config.url,
            headers=headers,
            data=json.dumps(config.body) if config.body is not None else None,
            timeout=config.timeout,
            allow_redirects=False,
        )
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        text = response.text[:MAX_RESULT_BODY_CHARS]
        self.log(f"{config.method} {config.url} -> {response.status_code} in {elapsed_ms} ms")
        if not 200 <= response.status_code < 300:
            raise ApiCallError(f"{config.method} {config.url} answered {response.status_code}: {text[:300]}")
        try:
            body: Any = response.json()
        except ValueError:
            body = text
        return {"status_code": response.status_code, "elapsed_ms": elapsed_ms, "body": body}
