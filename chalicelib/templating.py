"""``{{...}}`` placeholders in built-in job configurations (pure: resolvers are passed in).

Checked when a job or cron job is created (an unknown variable, or a reference its rights may not
make, is a 400) and rendered only when it runs, so ``{{current_time}}`` is the run's time and a
``{{secret:NAME}}`` value is never stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.errors import BadRequestError
from chalicelib.references import ReferenceRule

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)(?::([^{}\s]+))?\s*\}\}")
# Anything between braces, to catch what PLACEHOLDER would not even match ({{secret:}}, {{a b}}).
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")
VARIABLES = frozenset({"current_time", "current_date", "scheduled_time", "job_id", "cron_job_id", "store_id"})
LOOKUPS = frozenset({"env", "secret"})
NAME = re.compile(r"^[A-Za-z0-9_./-]{1,256}$")

Resolver = Callable[[str, str], str]


def check_placeholders(value: Any, field: str, rule: ReferenceRule | None = None) -> None:
    """Raise a 400 naming every unknown or malformed placeholder in ``value``'s strings.

    With a ``rule`` (chalicelib/references.py), every ``{{env:...}}`` and ``{{secret:...}}`` it
    refuses is a 400 too, naming its field.
    """
    problems: list[dict[str, str]] = []
    for path, text in _strings(value, field):
        for candidate in ANY_BRACES.finditer(text):
            match = PLACEHOLDER.fullmatch(candidate.group(0))
            variable, name = (match.group(1), match.group(2)) if match else ("", None)
            if name is None and variable in VARIABLES:
                continue
            if variable in LOOKUPS and name is not None and NAME.match(name):
                continue
            problems.append({"field": path, "message": f"unknown template variable {candidate.group(0)!r}"})
    if problems:
        raise BadRequestError(
            f"Unknown template variable in {problems[0]['field']}: known are "
            + ", ".join(f"{{{{{v}}}}}" for v in sorted(VARIABLES))
            + ", {{env:NAME}} and {{secret:NAME}}.",
            code="unknown_template_variable",
            details=problems,
        )
    if rule is not None:
        refused = forbidden_references(value, field, rule)
        if refused:
            raise BadRequestError(
                f"Forbidden template reference in {refused[0]['field']}: {refused[0]['message']}.",
                code="forbidden_template_reference",
                details=refused,
            )


def forbidden_references(value: Any, field: str, rule: ReferenceRule) -> list[dict[str, str]]:
    """Every ``{{env:...}}``/``{{secret:...}}`` in ``value`` that ``rule`` refuses: its field and why (no value)."""
    refused: list[dict[str, str]] = []
    for path, text in _strings(value, field):
        for match in PLACEHOLDER.finditer(text):
            variable, name = match.group(1), match.group(2)
            if name is None or variable not in LOOKUPS:
                continue
            reason = rule(variable, name)
            if reason is not None:
                refused.append({"field": path, "message": f"{{{{{variable}:{name}}}}} is refused: {reason}"})
    return refused


def job_variables(
    *, job_id: str, store_id: str, cron_job_id: str | None, scheduled_at: str, timezone: str, now: datetime
) -> dict[str, str]:
    local = now.astimezone(ZoneInfo(timezone))
    return {
        "current_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "current_date": local.strftime("%Y-%m-%d"),  # the cron job's own calendar day
        "scheduled_time": scheduled_at,
        "job_id": job_id,
        "cron_job_id": cron_job_id or "",
        "store_id": store_id,
    }


def render(value: Any, variables: dict[str, str], resolve: Resolver) -> Any:
    """A copy of ``value`` with every placeholder replaced."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            variable, name = match.group(1), match.group(2)
            if name is None:
                return variables[variable]
            return resolve(variable, name)

        return PLACEHOLDER.sub(substitute, value)
    if isinstance(value, dict):
        return {k: render(v, variables, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [render(item, variables, resolve) for item in value]
    return value


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _strings(v, f"{path}[{i}]")]
    return []
