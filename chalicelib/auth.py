"""Bearer tokens (HS256 JWTs), the principals they name, and what each principal may see."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.errors import BadRequestError, ForbiddenError, UnauthorizedError

ALGORITHM = "HS256"
DEFAULT_TOKEN_TTL_S = 30 * 24 * 3600
# HS256 keys shorter than the hash leak strength; PyJWT warns below 32 bytes too.
MIN_SECRET_BYTES = 32
# What belongs to no store (an admin's platform-wide cron job or job) lives in this pseudo-store.
PLATFORM_STORE = "platform"
# Pseudo-stores only an admin may act on: a tenant's token naming one gains nothing from it.
RESERVED_STORE_IDS = frozenset({PLATFORM_STORE})


class Role(StrEnum):
    ADMIN = "admin"
    STORE_OWNER = "store_owner"
    PLUGIN = "plugin"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    stores: frozenset[str] = field(default_factory=frozenset)
    plugin_id: str | None = None

    def __post_init__(self) -> None:
        if self.role != Role.ADMIN and self.stores & RESERVED_STORE_IDS:
            object.__setattr__(self, "stores", self.stores - RESERVED_STORE_IDS)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def can_see(self, store_id: str, plugin_id: str | None) -> bool:
        """Whether a thing of that store and plugin exists for this principal at all."""
        if self.is_admin:
            return True
        if store_id not in self.stores:
            return False
        return self.role != Role.PLUGIN or plugin_id == self.plugin_id

    def require_store(self, store_id: str) -> None:
        if not self.is_admin and store_id not in self.stores:
            raise ForbiddenError(f"This token may not act on store {store_id!r}.", code="store_forbidden")

    def store_for_new_job(self, requested: str | None) -> str:
        """The store a new job or cron job belongs to: the one named, else the caller's only store.

        An admin's job that names no store belongs to the platform pseudo-store, which only admins see.
        """
        if requested is not None:
            self.require_store(requested)
            return requested
        if self.is_admin:
            return PLATFORM_STORE
        if len(self.stores) == 1:
            return next(iter(self.stores))
        raise BadRequestError(
            "Name a store_id: this token may act on several stores.",
            code="validation_error",
            details=[{"field": "store_id", "message": "required"}],
        )

    def plugin_for_new_job(self, requested: str | None) -> str | None:
        """A plugin's jobs are always its own; others may name the plugin they act for."""
        if self.role != Role.PLUGIN:
            return requested
        if requested is not None and requested != self.plugin_id:
            raise ForbiddenError("A plugin token may only create jobs for its own plugin.", code="plugin_forbidden")
        return self.plugin_id

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.subject}"


SYSTEM_PRINCIPAL = Principal(subject="system", role=Role.ADMIN)


def mint_token(
    secret: str | Keyring,
    *,
    role: Role,
    subject: str,
    stores: list[str] | None = None,
    plugin_id: str | None = None,
    ttl_s: int = DEFAULT_TOKEN_TTL_S,
    now: float | None = None,
    kid: str | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "iat": issued, "exp": issued + ttl_s}
    if stores:
        claims["stores"] = list(stores)
    if plugin_id:
        claims["plugin_id"] = plugin_id
    import jwt  # deferred: PyJWT loads cryptography when present (~40 ms); workers never need it

    key = secret.signing if isinstance(secret, Keyring) else secret
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid or key_id(key)})


def principal_from_header(header: str | None, secret: str | VerifyingKeys) -> Principal:
    if not header:
        raise UnauthorizedError("Send an Authorization: Bearer <token> header.", code="missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("The Authorization header must be 'Bearer <token>'.", code="invalid_token")
    return principal_from_token(token.strip(), secret)


def principal_from_token(token: str, secret: str | VerifyingKeys) -> Principal:
    import jwt  # deferred: see mint_token

    key = verifying_secret(token, secret)
    try:
        # algorithms is pinned: a token saying alg "none" or RS256 is refused, not trusted.
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("The token has expired.", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise UnauthorizedError("The token is not valid.", code="invalid_token") from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise UnauthorizedError("The token names an unknown role.", code="invalid_token") from exc
    stores = claims.get("stores") or []
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise UnauthorizedError("The token's stores claim must be a list of ids.", code="invalid_token")
    plugin_id = claims.get("plugin_id")
    if role == Role.PLUGIN and not plugin_id:
        raise UnauthorizedError("A plugin token needs a plugin_id claim.", code="invalid_token")
    return Principal(subject=str(claims["sub"]), role=role, stores=frozenset(stores), plugin_id=plugin_id)


# --- signing keys (docs/signing-keys.md) ---------------------------------------------------


def key_id(secret: str) -> str:
    """A key's name in a token's ``kid`` header: it tells keys apart without revealing one."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class VerifyingKeys(Protocol):
    def verifying(self, kid: str | None) -> str | None: ...


@dataclass(frozen=True)
class Keyring:
    """The secret that signs (``current``) and the one retired last, which still verifies."""

    current: str
    previous: str | None = None

    @property
    def signing(self) -> str:
        return self.current

    def verifying(self, kid: str | None) -> str | None:
        """The secret a token with this ``kid`` was signed with, or None for a key not (or no longer) here.

        A token without a kid predates key rotation: it can only have been signed with the one
        secret there was, which is the current one until the first rotation retires it.
        """
        if kid is None or kid == key_id(self.current):
            return self.current
        if self.previous is not None and kid == key_id(self.previous):
            return self.previous
        return None


def verifying_secret(token: str, keys: str | VerifyingKeys) -> str:
    """The secret to check ``token`` against, chosen by its (not yet trusted) ``kid`` header."""
    import jwt  # deferred: see mint_token

    ring = Keyring(keys) if isinstance(keys, str) else keys
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise UnauthorizedError("The token is not valid.", code="invalid_token") from exc
    if kid is not None and not isinstance(kid, str):
        raise UnauthorizedError("The token's kid header must be a string.", code="invalid_token")
    secret = ring.verifying(kid)
    if secret is None:
        raise UnauthorizedError("The token was signed with a key this service does not accept.", code="invalid_token")
    return secret
