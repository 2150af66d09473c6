"""A store's stored secrets, deleted a page at a time: SSM parameters and Secrets Manager secrets
under the store's folders of this stage (chalicelib/references.py names them).

Each call lists from the top, so a run that stopped anywhere starts again where the deleted
ones left off; nothing about a listing is kept between calls. Every name is checked against the
folder here, byte for byte, whatever the service's filter matched: Secrets Manager's name filter
ignores case, so ``stores/Shop-A/`` would otherwise come back for ``stores/shop-a/``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

# GetParametersByPath and DeleteParameters take at most 10 names a call.
PAGE = 10
# A listing may answer fewer than asked with a token to go on: follow it at most this often.
MAX_LISTING_CALLS = 10
GONE = {"ResourceNotFoundException", "ParameterNotFound"}


class StoreSecrets:
    def __init__(self, ssm: Any, secretsmanager: Any) -> None:
        self._ssm = ssm
        self._secretsmanager = secretsmanager

    def delete_parameters(self, folder: str, *, seen: Collection[str] = ()) -> list[str]:
        """Delete up to a page of the SSM parameters under ``folder`` (``/.../``, both slashes);
        the names deleted, [] when none is left. ``seen``: names already deleted by this caller,
        which an eventually consistent listing may still show and are not asked for again."""
        names = self._listed(
            lambda token: self._ssm.get_parameters_by_path(
                Path=folder.rstrip("/"), Recursive=True, WithDecryption=False, MaxResults=PAGE, **token
            ),
            "Parameters",
            folder,
            seen,
        )
        if not names:
            return []
        answer = self._ssm.delete_parameters(Names=list(names))
        return [str(name) for name in answer.get("DeletedParameters", [])]

    def delete_secrets(self, prefix: str, *, seen: Collection[str] = ()) -> list[str]:
        """Delete up to a page of the Secrets Manager secrets whose name starts with ``prefix``,
        at once and for good (no recovery window): an erasure that can be undone is not one.
        Secrets already scheduled for deletion are listed and deleted too."""
        names = self._listed(
            lambda token: self._secretsmanager.list_secrets(
                Filters=[{"Key": "name", "Values": [prefix]}], IncludePlannedDeletion=True, MaxResults=PAGE, **token
            ),
            "SecretList",
            prefix,
            seen,
        )
        deleted = []
        for name, entry in names.items():
            try:
                # By ARN: a name ending in a hyphen and six characters reads as a partial ARN.
                self._secretsmanager.delete_secret(SecretId=entry["ARN"], ForceDeleteWithoutRecovery=True)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in GONE:
                    raise
                continue
            deleted.append(name)
        return deleted

    @staticmethod
    def _listed(call: Any, key: str, prefix: str, seen: Collection[str]) -> dict[str, dict[str, Any]]:
        """Up to a page of entries by name, under ``prefix`` exactly and not in ``seen``."""
        found: dict[str, dict[str, Any]] = {}
        token: dict[str, str] = {}
        for _ in range(MAX_LISTING_CALLS):
            answer = call(token)
            for entry in answer.get(key, []):
                name = str(entry["Name"])
                if name.startswith(prefix) and name not in seen and len(found) < PAGE:
                    found[name] = entry
            if len(found) >= PAGE or not answer.get("NextToken"):
                break
            token = {"NextToken": answer["NextToken"]}
        return found
