"""Keys and tokens the signing-key tests share."""

from __future__ import annotations

import jwt

from chalicelib.auth import Role, mint_token
from tests.conftest import T0

OLD = "old-secret-0123456789abcdef0123456789abcdef"
NEWER = "newer-secret-0123456789abcdef0123456789abcd"


def admin_token(secret: str, **extra: object) -> str:
    return mint_token(secret, role=Role.ADMIN, subject="rotation-test", **extra)  # type: ignore[arg-type]


def pre_rotation_token(secret: str) -> str:
    """A token as minted before tokens carried a kid header."""
    claims = {"sub": "legacy", "role": "admin", "iat": int(T0.timestamp()), "exp": 2**31}
    return jwt.encode(claims, secret, algorithm="HS256")
