"""The reference matrix the template-reference tests share: who is refused which {{env:}} and
{{secret:}} reference (chalicelib/references.py, docs/templates.md)."""

from __future__ import annotations

from tests.conftest import token

OWNER_A = token("store_owner", stores=["store-a"], sub="owner-a")
PLUGIN_P = token("plugin", stores=["store-a"], plugin_id="plugin-p", sub="plugin-p")
ADMIN = token("admin", sub="ops")
PRINCIPALS = {"owner_a": OWNER_A, "plugin_p": PLUGIN_P, "admin": ADMIN}
NON_ADMINS = frozenset({"owner_a", "plugin_p"})
EVERYONE = frozenset(PRINCIPALS)

SIGNING_PARAMETER = "/tickwork/dev/jwt-secret"
DATABASE_URL_SECRET = "/tickwork/dev/database-url"
# The allow-list also names platform settings: the deny rule wins over it.
ENV_ALLOWLIST = ("SHOP_REGION", "TICKWORK_JWT_SECRET", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL")

# Each reference, and who is refused it.
REFUSED: dict[str, frozenset[str]] = {
    "{{env:TICKWORK_JWT_SECRET}}": EVERYONE,
    "{{env:AWS_SECRET_ACCESS_KEY}}": EVERYONE,
    "{{env:AWS_SESSION_TOKEN}}": EVERYONE,
    "{{env:aws_secret_access_key}}": EVERYONE,
    "{{env:DATABASE_URL}}": EVERYONE,
    "{{env:TICKWORK_WEBHOOK_ALLOWLIST}}": EVERYONE,
    "{{env:HOME}}": EVERYONE,  # not published to jobs
    "{{secret:/tickwork/dev/jwt-secret}}": EVERYONE,
    "{{secret:/tickwork/dev/jwt-secret-previous}}": EVERYONE,
    "{{secret:tickwork/dev/jwt-secret}}": EVERYONE,
    "{{secret:/tickwork/dev/database-url}}": EVERYONE,
    "{{secret:/tickwork/dev/stores/store-b/x}}": NON_ADMINS,
    "{{secret:tickwork/dev/stores/store-b/x}}": NON_ADMINS,
    "{{secret:/tickwork/dev/stores/store-a/../store-b/x}}": EVERYONE,
    "{{secret:/tickwork/dev/stores/store-a//x}}": EVERYONE,
    "{{secret:/tickwork/dev/stores/store-a/./x}}": EVERYONE,
    "{{secret:/tickwork/dev/stores/store-a}}": NON_ADMINS,  # the folder, not a name in it
    "{{secret:/tickwork/prod/stores/store-a/x}}": EVERYONE,  # another stage
    "{{secret:/shop/admin-token}}": EVERYONE,  # outside the stage's folder
    "{{secret:/tickwork/dev/ops/token}}": NON_ADMINS,  # an admin's parameter
}
ALLOWED = [
    "{{env:TICKWORK_PUBLIC_SHOP_DOMAIN}}",
    "{{env:SHOP_REGION}}",
    "{{secret:/tickwork/dev/stores/store-a/api-key}}",
    "{{secret:tickwork/dev/stores/store-a/sm-key}}",
]
