"""Kill a process at every AWS call of eight scenarios, before and after it; restart; check the invariants.

The scenarios, the harness and the invariants are in tests/faults/crash_points.py; docs/crash-points.md
shows the table it prints. A crash point that breaks an invariant because of a known defect is an
xfail(strict=True) naming it: when the defect is fixed the test starts passing and must be unmarked.
"""

from __future__ import annotations

import functools

import pytest

from tests.faults.crash_points import SCENARIOS, WHENS, CrashPoint, recorded_calls, run_scenario, violations

# (scenario, call index, when) -> the defect that breaks an invariant there.
KNOWN_DEFECTS: dict[tuple[str, int, str], str] = {}


@functools.cache
def sequences() -> dict[str, list[tuple[str, str]]]:
    return {name: recorded_calls(name) for name in SCENARIOS}


def crash_points() -> list[object]:
    params = []
    for name, calls in sequences().items():
        for index, (role, operation) in enumerate(calls):
            for when in WHENS:
                defect = KNOWN_DEFECTS.get((name, index, when))
                marks = [pytest.mark.xfail(strict=True, reason=defect)] if defect else []
                params.append(
                    pytest.param(name, index, when, id=f"{name}-{index}-{when}-{role}-{operation}", marks=marks)
                )
    return params


def test_every_scenario_runs_clean_without_a_crash() -> None:
    for name in SCENARIOS:
        outcome = run_scenario(name, None)
        assert violations(outcome) == [], name
        assert outcome.rounds == 1 and outcome.requeued_by_sweeps == 0, name
        assert all(outcome.completions[job.id] <= 1 for job in outcome.jobs), name


@pytest.mark.parametrize(("scenario", "index", "when"), crash_points())
def test_a_crash_at_an_aws_call_breaks_no_invariant(scenario: str, index: int, when: str) -> None:
    outcome = run_scenario(scenario, CrashPoint(index, when))
    assert outcome.crashed is not None, "the crash point was never reached"
    assert outcome.crashed[1] == sequences()[scenario][index][1], "the calls before the crash differ from the record"
    assert violations(outcome) == []
