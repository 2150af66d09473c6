"""The reference rule itself (chalicelib/references.py): what it refuses whom, and its settings."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.references import ReferencePolicy, lookup, refusal
from tests.references_matrix import (
    ALLOWED,
    DATABASE_URL_SECRET,
    ENV_ALLOWLIST,
    PRINCIPALS,
    REFUSED,
    SIGNING_PARAMETER,
)


def test_the_rule_refuses_per_the_matrix_and_looks_up_what_it_allows() -> None:
    policy = ReferencePolicy.of(
        Settings(
            jwt_secret_parameter=SIGNING_PARAMETER,
            database_url_secret=DATABASE_URL_SECRET,
            job_env_allowlist=ENV_ALLOWLIST,
        )
    )
    for reference, refused_to in REFUSED.items():
        kind, name = reference[2:-2].split(":", 1)
        for who in PRINCIPALS:
            reason = refusal(kind, name, admin=who == "admin", store_id="store-a", policy=policy)
            assert (reason is not None) == (who in refused_to), (reference, who, reason)
    for reference in ALLOWED:
        kind, name = reference[2:-2].split(":", 1)
        assert refusal(kind, name, admin=False, store_id="store-a", policy=policy) is None, reference
    assert lookup("secret", "/tickwork/dev/stores/store-a/k").source == "ssm"
    assert lookup("secret", "tickwork/dev/stores/store-a/k").source == "secretsmanager"
    # A store id that is a prefix of another's does not open the other's namespace.
    assert refusal("secret", "/tickwork/dev/stores/store-ab/k", admin=False, store_id="store-a", policy=policy)


def test_the_stage_and_the_allow_list_come_from_the_environment() -> None:
    settings = Settings.from_env({"TICKWORK_STAGE": "prod", "TICKWORK_JOB_ENV_ALLOWLIST": " A, B ,,"})
    assert (settings.stage, settings.job_env_allowlist) == ("prod", ("A", "B"))
    assert Settings.from_env({}).stage == "dev"
    policy = ReferencePolicy.of(settings)
    assert refusal("secret", "/tickwork/prod/stores/s/k", admin=False, store_id="s", policy=policy) is None
    assert refusal("secret", "/tickwork/prod/jwt-secret", admin=True, store_id="s", policy=policy)
