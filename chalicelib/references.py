"""Which ``{{env:NAME}}`` and ``{{secret:NAME}}`` a job may reference, and where each is looked up (pure).

One rule, asked at creation (a refused reference is a 400 naming its field) and again at run
time (a job or cron job saved before the rule, or whose rights changed, fails permanently before
anything is sent). docs/templates.md explains it; in short:

- ``{{env:NAME}}``: only names the operator published to jobs, ``TICKWORK_PUBLIC_*`` and the
  names in ``TICKWORK_JOB_ENV_ALLOWLIST``; never ``AWS_*``, ``DATABASE_URL`` or another
  ``TICKWORK_*`` setting, whatever the allow-list says. The same for every role.
- ``{{secret:NAME}}``: a name with a leading ``/`` is an SSM parameter, any other a Secrets
  Manager secret, each looked up under exactly that name. A store's jobs reach only
  ``/tickwork/<stage>/stores/<store>/...`` (``tickwork/<stage>/stores/<store>/...``); an admin's
  reach the stage's folder ``/tickwork/<stage>/...``, which is all the function's IAM policy
  grants (deploy/template.py), except the platform's signing secret (and its siblings, such as
  ``-previous``) and the database URL's secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.config import Settings

PUBLIC_ENV_PREFIX = "TICKWORK_PUBLIC_"
# Platform settings and credentials: refused even when the allow-list names them.
DENIED_ENV_PREFIXES = ("AWS_", "TICKWORK_")
DENIED_ENV_NAMES = frozenset({"DATABASE_URL"})
SECRET_ROOT = "tickwork"
STORES_FOLDER = "stores"

# (kind, name) -> why it is refused, or None when it may be used.
ReferenceRule = Callable[[str, str], str | None]


class Source(StrEnum):
    ENV = "env"
    SSM = "ssm"
    SECRETS_MANAGER = "secretsmanager"


@dataclass(frozen=True)
class Lookup:
    """Where an allowed reference is read: exactly this name in this source."""

    source: Source
    name: str


@dataclass(frozen=True)
class ReferencePolicy:
    """The operator's part of the rule: the stage, the published env names, the platform's own secrets."""

    stage: str = "dev"
    env_allowlist: frozenset[str] = frozenset()
    # Secret names no job may read, each with every name it prefixes (`-previous` during a rotation).
    platform_secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> ReferencePolicy:
        conventional = f"/{SECRET_ROOT}/{settings.stage}/jwt-secret"
        named = (conventional, settings.jwt_secret_parameter, settings.database_url_secret)
        return cls(
            stage=settings.stage,
            env_allowlist=frozenset(settings.job_env_allowlist),
            platform_secrets=tuple(sorted({name for name in named if name})),
        )

    @property
    def stage_folder(self) -> str:
        return f"/{SECRET_ROOT}/{self.stage}/"

    def store_folder(self, store_id: str) -> str:
        return f"/{SECRET_ROOT}/{self.stage}/{STORES_FOLDER}/{store_id}/"


def lookup(kind: str, name: str) -> Lookup:
    """Where a reference is read; only ever called for a reference ``refusal`` allowed."""
    if kind == "env":
        return Lookup(Source.ENV, name)
    return Lookup(Source.SSM if name.startswith("/") else Source.SECRETS_MANAGER, name)


def refusal(kind: str, name: str, *, admin: bool, store_id: str, policy: ReferencePolicy) -> str | None:
    """Why a job of ``store_id`` acting with (non-)admin rights may not reference ``name``; None if it may."""
    if kind == "env":
        return _env_refusal(name, policy)
    if kind == "secret":
        return _secret_refusal(name, admin=admin, store_id=store_id, policy=policy)
    return f"{kind!r} is not a kind of reference"


def rule_for(*, admin: bool, store_id: str, policy: ReferencePolicy) -> ReferenceRule:
    def rule(kind: str, name: str) -> str | None:
        return refusal(kind, name, admin=admin, store_id=store_id, policy=policy)

    return rule


def _env_refusal(name: str, policy: ReferencePolicy) -> str | None:
    upper = name.upper()
    published = name.startswith(PUBLIC_ENV_PREFIX)
    if upper in DENIED_ENV_NAMES or (upper.startswith(DENIED_ENV_PREFIXES) and not published):
        return "the platform's own settings and credentials are never given to jobs"
    if published or name in policy.env_allowlist:
        return None
    return f"only {PUBLIC_ENV_PREFIX}* variables and those named in TICKWORK_JOB_ENV_ALLOWLIST are given to jobs"


def _secret_refusal(name: str, *, admin: bool, store_id: str, policy: ReferencePolicy) -> str | None:
    # Names are compared without the leading `/` that marks an SSM parameter, so one rule covers
    # both services; the lookup then uses the name exactly as written, never a normalised one.
    parts = name.removeprefix("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a secret name may not contain '.', '..' or empty segments ('//', a trailing '/')"
    canonical = "/".join(parts)
    if parts[:2] != [SECRET_ROOT, policy.stage] or len(parts) < 3:
        where = policy.stage_folder if admin else policy.store_folder(store_id)
        return f"secrets are read only under {where} (SSM) or {where[1:]} (Secrets Manager)"
    for platform in policy.platform_secrets:
        if canonical.startswith(platform.removeprefix("/")):
            return "the platform's own secrets (its signing key, its database URL) are never given to jobs"
    if not admin and (parts[2:4] != [STORES_FOLDER, store_id] or len(parts) < 5):
        where = policy.store_folder(store_id)
        return f"a store's jobs read secrets only under {where} (SSM) or {where[1:]} (Secrets Manager)"
    return None
