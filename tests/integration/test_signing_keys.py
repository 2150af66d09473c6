"""Signing key rotation (docs/signing-keys.md): kid headers, current and previous secrets, the
keyring cache of a running API, and `python -m devstack.cli rotate-signing-key`, on moto's SSM."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import boto3
import pytest

from chalicelib.auth import key_id
from chalicelib.clock import ManualClock
from chalicelib.config import Settings
from chalicelib.signing_keys import KEYRING_MAX_AGE_S, UNKNOWN_KID_REREAD_S, previous_parameter
from devstack import stack
from devstack.cli import main
from tests.conftest import T0, Stack, assert_error, built_stack
from tests.signing_kit import NEWER, OLD, admin_token, pre_rotation_token

PARAMETER = "/tickwork/test/jwt-secret"
ROUTE = "/api/job-types"  # any route that authenticates


def rotate(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["rotate-signing-key", "--parameter", PARAMETER, *args], out=out)
    return code, out.getvalue()


def ssm_value(name: str) -> str | None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    try:
        return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.fixture
def ssm_stack(settings: Settings) -> Iterator[Stack]:
    """The API with its keys in SSM (as on Lambda) and a clock that moves only when told."""
    from_ssm = dataclasses.replace(settings, jwt_secret=None, jwt_previous_secret=None, jwt_secret_parameter=PARAMETER)
    with built_stack(from_ssm, ManualClock(T0)) as built:
        built.session.client("ssm").put_parameter(Name=PARAMETER, Value=OLD, Type="SecureString")
        yield built


def status(stack: Stack, token: str) -> int:
    return int(stack.get(ROUTE, token).status_code)


def advance(stack: Stack, seconds: float) -> None:
    assert isinstance(stack.clock, ManualClock)
    stack.clock.advance(seconds)


# --- the kid rule ---------------------------------------------------------------------------


def test_a_token_whose_kid_names_an_unknown_key_is_401(ssm_stack: Stack) -> None:
    # Signed with the very secret the API holds, but naming another key: the kid decides.
    forged_kid = admin_token(OLD, kid="0123456789ab")
    assert_error(ssm_stack.get(ROUTE, forged_kid), 401, "invalid_token")
    assert status(ssm_stack, admin_token(OLD)) == 200
    # PyJWT will not write a kid that is not a string; a client could.
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":7}').rstrip(b"=").decode()
    wrong_type = header + "." + admin_token(OLD).split(".", 1)[1]
    assert_error(ssm_stack.get(ROUTE, wrong_type), 401, "invalid_token")


def test_the_environment_form_holds_a_previous_secret_too(stack: Stack) -> None:
    rt = stack.runtime
    rt.settings = dataclasses.replace(rt.settings, jwt_secret=NEWER, jwt_previous_secret=OLD)
    assert rt.jwt_secret == NEWER
    assert status(stack, admin_token(OLD)) == 200
    assert status(stack, admin_token(NEWER)) == 200
    assert status(stack, pre_rotation_token(NEWER)) == 200
    assert_error(stack.get(ROUTE, pre_rotation_token(OLD)), 401, "invalid_token")
    assert Settings.from_env({"TICKWORK_JWT_PREVIOUS_SECRET": OLD}).jwt_previous_secret == OLD


# --- rotation through SSM -------------------------------------------------------------------


def test_after_rotation_the_old_key_is_previous_and_the_new_one_signs(ssm_stack: Stack) -> None:
    old_token, legacy = admin_token(OLD), pre_rotation_token(OLD)
    assert status(ssm_stack, old_token) == 200 and status(ssm_stack, legacy) == 200

    code, printed = rotate()
    assert code == 0
    new = ssm_value(PARAMETER)
    assert new is not None and new != OLD and ssm_value(previous_parameter(PARAMETER)) == OLD
    assert new not in printed and OLD not in printed
    assert f"current key {key_id(new)}" in printed and f"previous key {key_id(OLD)}" in printed
    advance(ssm_stack, KEYRING_MAX_AGE_S)

    assert status(ssm_stack, old_token) == 200
    assert status(ssm_stack, admin_token(new)) == 200
    assert ssm_stack.runtime.jwt_secret == new  # what api_call jobs and the embedded stack sign with
    assert_error(ssm_stack.get(ROUTE, legacy), 401, "invalid_token")  # the documented price of no kid


def test_after_drop_previous_the_old_key_is_refused(ssm_stack: Stack) -> None:
    old_token = admin_token(OLD)
    assert rotate()[0] == 0
    new = ssm_value(PARAMETER)
    assert new is not None
    code, printed = rotate("--drop-previous")
    assert code == 0 and f"dropped previous key {key_id(OLD)}" in printed
    assert ssm_value(previous_parameter(PARAMETER)) is None and ssm_value(PARAMETER) == new

    assert_error(ssm_stack.get(ROUTE, old_token), 401, "invalid_token")
    assert status(ssm_stack, admin_token(new)) == 200
    assert rotate("--drop-previous") == (0, f"{PARAMETER}: there is no previous key to drop\n")


def test_a_running_api_picks_up_a_rotation_within_the_cache_bound(ssm_stack: Stack) -> None:
    old_token = admin_token(OLD)
    assert status(ssm_stack, old_token) == 200  # the keyring is read (and cached) now

    assert rotate()[0] == 0
    new_token = admin_token(ssm_value(PARAMETER) or "")
    # A kid the cached keyring lacks re-reads SSM, but not more often than UNKNOWN_KID_REREAD_S.
    assert_error(ssm_stack.get(ROUTE, new_token), 401, "invalid_token")
    advance(ssm_stack, UNKNOWN_KID_REREAD_S)
    assert status(ssm_stack, new_token) == 200
    assert status(ssm_stack, old_token) == 200

    assert rotate("--drop-previous")[0] == 0
    # The old key is one the cached keyring knows: it verifies until the keyring expires.
    advance(ssm_stack, KEYRING_MAX_AGE_S - 1)
    assert status(ssm_stack, old_token) == 200
    advance(ssm_stack, 1)
    assert_error(ssm_stack.get(ROUTE, old_token), 401, "invalid_token")
    assert status(ssm_stack, new_token) == 200


def test_forged_kids_do_not_reread_ssm_more_than_once_per_interval(ssm_stack: Stack) -> None:
    reads: list[str] = []
    ssm_stack.session.events.register("before-call.ssm.GetParameter", lambda **kw: reads.append("read"))
    assert status(ssm_stack, admin_token(OLD)) == 200
    first = len(reads)
    assert first == 2  # current and previous
    for n in range(5):
        assert status(ssm_stack, admin_token(OLD, kid=f"unknown{n:05d}")) == 401
    assert len(reads) == first
    advance(ssm_stack, UNKNOWN_KID_REREAD_S)
    for n in range(5):
        assert status(ssm_stack, admin_token(OLD, kid=f"unknown{n:05d}")) == 401
    assert len(reads) == first + 2


# --- the CLI --------------------------------------------------------------------------------


def test_rotating_twice_retires_the_earlier_previous_key(ssm_stack: Stack) -> None:
    assert rotate()[0] == 0
    middle = ssm_value(PARAMETER)
    assert middle is not None
    code, printed = rotate()
    assert code == 0
    assert ssm_value(previous_parameter(PARAMETER)) == middle
    assert f"key {key_id(OLD)} (the earlier previous) no longer verifies" in printed
    advance(ssm_stack, KEYRING_MAX_AGE_S)
    assert_error(ssm_stack.get(ROUTE, admin_token(OLD)), 401, "invalid_token")
    assert status(ssm_stack, admin_token(middle)) == 200


def test_rotation_reads_the_parameter_name_from_the_environment(
    ssm_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWORK_JWT_SECRET_PARAMETER", PARAMETER)
    assert main(["rotate-signing-key"], out=io.StringIO()) == 0
    assert ssm_value(previous_parameter(PARAMETER)) == OLD


def test_local_rotation_moves_the_embedded_stacks_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "SECRET_FILE", tmp_path / "jwt-secret")
    monkeypatch.delenv("TICKWORK_JWT_SECRET")
    monkeypatch.delenv("TICKWORK_JWT_PREVIOUS_SECRET", raising=False)
    first = stack.local_jwt_secret()
    assert stack.local_jwt_previous_secret() is None

    out = io.StringIO()
    assert main(["rotate-signing-key", "--local"], out=out) == 0
    second = stack.local_jwt_secret()
    assert second != first and stack.local_jwt_previous_secret() == first
    assert (tmp_path / "jwt-secret-previous").stat().st_mode & 0o077 == 0
    assert first not in out.getvalue() and second not in out.getvalue()

    # What `make run` does with them on start: both into the environment and onto SSM.
    with mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL": "http://unused"}):  # restored after; no moto started
        stack.prepare_environment(None)
        assert Settings.from_env().jwt_secret == second and Settings.from_env().jwt_previous_secret == first
    from moto import mock_aws

    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        stack.publish_secret(session, second, first)
        assert ssm_value(previous_parameter(stack.SECRET_PARAMETER)) == first
        stack.publish_secret(session, second)
        assert ssm_value(previous_parameter(stack.SECRET_PARAMETER)) is None

    assert main(["rotate-signing-key", "--local", "--drop-previous"], out=io.StringIO()) == 0
    assert stack.local_jwt_previous_secret() is None and stack.local_jwt_secret() == second


# --- the deployed permissions ---------------------------------------------------------------
