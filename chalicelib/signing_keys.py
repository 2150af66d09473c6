"""Where the JWT signing secrets live, how a process caches them, and how an operator rotates them.

Two secrets at most: the current one signs and verifies, the previous one only verifies.
On AWS they are two SSM parameters, ``<parameter>`` and ``<parameter>-previous`` (missing: no
previous key); in the environment TICKWORK_JWT_SECRET and TICKWORK_JWT_PREVIOUS_SECRET; on the
embedded stack the files .tickwork/jwt-secret and .tickwork/jwt-secret-previous. See
docs/signing-keys.md.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.auth import Keyring, key_id
from chalicelib.clock import Clock

PREVIOUS_SUFFIX = "-previous"
# A process re-reads its keyring at least this often, so a rotation (or a dropped previous
# key) reaches every warm Lambda container within this bound.
KEYRING_MAX_AGE_S = 300.0
# A token naming a key the cached keyring lacks may be newer than the cache (a rotation a
# moment ago): re-read early, but at most this often, so forged kids cannot flood SSM.
UNKNOWN_KID_REREAD_S = 30.0


def previous_parameter(parameter: str) -> str:
    return parameter + PREVIOUS_SUFFIX


def previous_file(secret_file: Path) -> Path:
    return secret_file.with_name(secret_file.name + PREVIOUS_SUFFIX)


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def _get(ssm: Any, name: str) -> str | None:
    try:
        answer = ssm.get_parameter(Name=name, WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return None
    return str(answer["Parameter"]["Value"])


def read_parameter_keyring(ssm: Any, parameter: str) -> Keyring | None:
    """The keyring in SSM, None when the current parameter is missing.

    The current parameter is read first: rotate_parameter writes the previous one first, so
    a read racing a rotation sees (old, older), (old, old) or (new, old), each of which still
    verifies every token the old key signed.
    """
    current = _get(ssm, parameter)
    if current is None:
        return None
    return Keyring(current=current, previous=_get(ssm, previous_parameter(parameter)))


def _put(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def rotate_parameter(ssm: Any, parameter: str) -> tuple[Keyring, Keyring | None]:
    """Current becomes previous, a fresh secret becomes current; returns (new, old) keyrings."""
    old = read_parameter_keyring(ssm, parameter)
    fresh = Keyring(current=new_secret(), previous=old.current if old else None)
    if fresh.previous is not None:
        _put(ssm, previous_parameter(parameter), fresh.previous)  # first: see read_parameter_keyring
    _put(ssm, parameter, fresh.current)
    return fresh, old


def drop_previous_parameter(ssm: Any, parameter: str) -> str | None:
    """Forget the previous secret; returns its kid, None when there was none."""
    dropped = _get(ssm, previous_parameter(parameter))
    if dropped is None:
        return None
    delete_parameter(ssm, previous_parameter(parameter))
    return key_id(dropped)


def delete_parameter(ssm: Any, name: str) -> None:
    with contextlib.suppress(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=name)


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(value + "\n")


def read_file_keyring(secret_file: Path) -> Keyring | None:
    if not secret_file.exists():
        return None
    previous = previous_file(secret_file)
    return Keyring(
        current=secret_file.read_text().strip(),
        previous=previous.read_text().strip() if previous.exists() else None,
    )


def rotate_file(secret_file: Path) -> tuple[Keyring, Keyring | None]:
    """The embedded stack's rotation: the same moves as rotate_parameter, on its secret files."""
    old = read_file_keyring(secret_file)
    fresh = Keyring(current=new_secret(), previous=old.current if old else None)
    if fresh.previous is not None:
        _write_secret(previous_file(secret_file), fresh.previous)
    _write_secret(secret_file, fresh.current)
    return fresh, old


def drop_previous_file(secret_file: Path) -> str | None:
    previous = previous_file(secret_file)
    if not previous.exists():
        return None
    dropped = previous.read_text().strip()
    previous.unlink()
    return key_id(dropped)


class CachedKeyring:
    """A process's keyring, re-read once it is KEYRING_MAX_AGE_S old (by ``clock``).

    It has what authentication needs: ``signing`` and ``verifying(kid)``. A load that fails
    raises (a request then fails) rather than keeping a keyring that may hold a dropped key.
    """

    def __init__(
        self,
        load: Callable[[], Keyring],
        clock: Clock,
        max_age_s: float = KEYRING_MAX_AGE_S,
        unknown_kid_reread_s: float = UNKNOWN_KID_REREAD_S,
    ) -> None:
        self._load = load
        self._clock = clock
        self._max_age_s = max_age_s
        self._unknown_kid_reread_s = unknown_kid_reread_s
        self._lock = threading.Lock()
        self._keyring: Keyring | None = None
        self._read_at: datetime | None = None

    def _age_s(self, now: datetime) -> float:
        return float("inf") if self._read_at is None else (now - self._read_at).total_seconds()

    def _reload(self, now: datetime) -> Keyring:
        keyring = self._load()
        self._keyring, self._read_at = keyring, now
        return keyring

    def keyring(self) -> Keyring:
        with self._lock:
            now = self._clock.now()
            if self._keyring is None or self._age_s(now) >= self._max_age_s:
                return self._reload(now)
            return self._keyring

    @property
    def signing(self) -> str:
        return self.keyring().signing

    def verifying(self, kid: str | None) -> str | None:
        found = self.keyring().verifying(kid)
        if found is not None or kid is None:
            return found
        with self._lock:
            now = self._clock.now()
            if self._keyring is not None and self._age_s(now) < self._unknown_kid_reread_s:
                return self._keyring.verifying(kid)
            return self._reload(now).verifying(kid)
