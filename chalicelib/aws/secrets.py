"""Values for ``{{secret:NAME}}`` from SSM and Secrets Manager, and the platform's own secrets.

A job's references go through ``read``, which looks up exactly the source and name that
chalicelib/references.py allowed; ``platform_secret(name)`` is the platform's own lookup (the
database URL), which tries SSM, then Secrets Manager. ``{{env:NAME}}`` never reaches AWS: its
values come from the settings (``Settings.job_environment``).
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.references import Lookup, Source

NOT_FOUND_CODES = {"ParameterNotFound", "ResourceNotFoundException"}


class MissingSecretError(Exception):
    """Raised when a placeholder names a variable or secret that does not exist (the name, never a value)."""


class SecretResolver:
    """Resolves placeholders at run time; values are cached per container, never stored or logged."""

    def __init__(self, ssm: Any, secretsmanager: Any) -> None:
        self._ssm = ssm
        self._secretsmanager = secretsmanager
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def platform_secret(self, name: str) -> str:
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        value = self._from_ssm(name)
        if value is None:
            value = self._from_secrets_manager(name)
        if value is None:
            raise MissingSecretError(f"secret {name} is neither an SSM parameter nor a Secrets Manager secret")
        with self._lock:
            self._cache[name] = value
        return value

    def read(self, lookup: Lookup) -> str:
        """A job's reference, once the rule allowed it: exactly this name in this one source."""
        if lookup.source == Source.ENV:
            raise ValueError("environment variables are read from the settings, not from AWS")
        key = f"{lookup.source}:{lookup.name}"
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        if lookup.source == Source.SSM:
            value = self._from_ssm(lookup.name)
            where = "an SSM parameter"
        else:
            value = self._from_secrets_manager(lookup.name)
            where = "a Secrets Manager secret"
        if value is None:
            raise MissingSecretError(f"secret {lookup.name} is not {where}")
        with self._lock:
            self._cache[key] = value
        return value

    def _from_ssm(self, name: str) -> str | None:
        try:
            return str(self._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES | {"ValidationException"}:
                return None
            raise

    def _from_secrets_manager(self, name: str) -> str | None:
        try:
            return str(self._secretsmanager.get_secret_value(SecretId=name)["SecretString"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                return None
            raise
