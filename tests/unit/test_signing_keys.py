"""Signing keys without AWS: the kid rule, tokens from before kids, the rotation command's usage, the deployed grant."""

from __future__ import annotations

import hashlib
import io
from fnmatch import fnmatch

import jwt
import pytest

from chalicelib.auth import Keyring, key_id, principal_from_token
from chalicelib.errors import UnauthorizedError
from chalicelib.signing_keys import previous_parameter
from deploy.template import load_stage, policy_document
from devstack.cli import main
from tests.signing_kit import NEWER, OLD, admin_token, pre_rotation_token


def test_a_token_names_its_key_by_a_hash_of_the_secret_not_the_secret() -> None:
    token = admin_token(OLD)
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid == key_id(OLD) == hashlib.sha256(OLD.encode()).hexdigest()[:12]
    assert kid not in OLD and OLD not in token
    assert jwt.get_unverified_header(admin_token(Keyring(current=NEWER, previous=OLD)))["kid"] == key_id(NEWER)


def test_a_token_from_before_kids_verifies_against_the_current_key_only() -> None:
    legacy = pre_rotation_token(OLD)
    assert principal_from_token(legacy, OLD).subject == "legacy"
    assert principal_from_token(legacy, Keyring(current=OLD)).subject == "legacy"
    with pytest.raises(UnauthorizedError) as refused:
        principal_from_token(legacy, Keyring(current=NEWER, previous=OLD))
    assert refused.value.code == "invalid_token"


def test_rotation_without_a_parameter_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKWORK_JWT_SECRET_PARAMETER", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["rotate-signing-key"], out=io.StringIO())
    assert exited.value.code == 2


def test_lambda_may_read_the_previous_parameter_but_never_write_one() -> None:
    stage = load_stage("prod")
    parameter = stage.settings.jwt_secret_parameter
    assert parameter is not None
    statements = [s.get("Fn::If", [None, s])[1] for s in policy_document(stage)["Statement"]]
    readable = [
        s["Resource"]["Fn::Sub"].split(":parameter", 1)[1] for s in statements if "ssm:GetParameter" in s["Action"]
    ]
    assert any(fnmatch(previous_parameter(parameter), pattern) for pattern in readable), readable
    # The only other SSM grant is a store's erasure, under stores/: never the signing parameters.
    others = [s for s in statements if any(a.startswith("ssm:") and a != "ssm:GetParameter" for a in s["Action"])]
    assert [s["Sid"] for s in others] == ["StoreParametersErase"], others
    assert {a for s in others for a in s["Action"]} == {"ssm:GetParametersByPath", "ssm:DeleteParameters"}
    (erasable,) = (s["Resource"]["Fn::Sub"].split(":parameter", 1)[1] for s in others)
    assert erasable == "/tickwork/prod/stores/*"
    assert not any(fnmatch(name, erasable) for name in (parameter, previous_parameter(parameter)))
