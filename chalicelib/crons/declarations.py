"""Cron jobs that plugins declare at start-up (kept apart so plugins import no scheduler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CronDeclaration:
    """A cron job a plugin asks for at start-up; created once, then left to its users."""

    plugin: str
    key: str
    fields: dict[str, Any]
