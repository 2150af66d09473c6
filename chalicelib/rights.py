"""The rights a job acts with: exactly those of the principal that created it (pure).

A background job records its creator's principal. A cron job records the principal that last
saved what it runs (its configuration or type), and every run it fires carries that record.
Built-in types that act on the platform's behalf (``api_call``'s token, ``{{secret:...}}``
lookups) read these rights, never the platform's own.

Items stored before rights were recorded carry none: they act as the least they could have
been, an owner of the job's store (a plugin of it when the job names a plugin).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.auth import Principal, Role

# Stores one principal may name in its rights; a token claim, so bounded.
MAX_STORES = 1000


class Rights(BaseModel):
    """A principal as stored on a job or cron job."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Role
    subject: str
    stores: list[str] = Field(default_factory=list, max_length=MAX_STORES)
    plugin_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Rights:
        return cls(
            role=principal.role,
            subject=principal.subject,
            stores=sorted(principal.stores),
            plugin_id=principal.plugin_id,
        )

    @property
    def principal(self) -> Principal:
        return Principal(subject=self.subject, role=self.role, stores=frozenset(self.stores), plugin_id=self.plugin_id)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def rights_or_least(rights: Rights | None, *, store_id: str, plugin_id: str | None, subject: str) -> Rights:
    """The recorded rights, or for an item that has none the least its creator could have had."""
    if rights is not None:
        return rights
    if plugin_id:
        return Rights(role=Role.PLUGIN, subject=subject, stores=[store_id], plugin_id=plugin_id)
    return Rights(role=Role.STORE_OWNER, subject=subject, stores=[store_id])


def rights_after_save(saver: Principal, previous: Rights | None, *, rewrites_what_runs: bool) -> Rights:
    """Whose rights a cron job runs with after ``saver`` saved it.

    A save that writes what the job runs (its configuration or type) makes it the saver's. An
    admin who only renames or reschedules a tenant's job must not lift the tenant's words to the
    platform's rights, so such a save keeps the rights it had; a non-admin's save always lowers
    them to the saver's, which is never more than they had.
    """
    if rewrites_what_runs or not saver.is_admin or previous is None:
        return Rights.of(saver)
    return previous
