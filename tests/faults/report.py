"""The fault suite's ``--size`` option and its counts, printed in pytest's closing summary.

Registered by ``tests/conftest.py`` as a plugin (options must be registered by a root conftest),
so the counts show in a plain ``make test`` run, without ``-s``.
"""

from __future__ import annotations

from typing import Any

DEFAULT_SIZE = 30
_results: list[tuple[str, dict[str, Any]]] = []


def record(scenario: str, **counts: Any) -> None:
    _results.append((scenario, counts))


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"jobs in the fault suite's big scenarios (default {DEFAULT_SIZE}; 500 for a thorough run)",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _results:
        return
    terminalreporter.write_sep("=", "fault suite counts")
    for scenario, counts in _results:
        shown = ", ".join(f"{name}={value}" for name, value in counts.items())
        terminalreporter.write_line(f"{scenario}: {shown}")
