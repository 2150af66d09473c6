"""The firing planner (pure): look-ahead, grace, and the three misfire policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.crons.expression import parse_schedule
from chalicelib.crons.firing import RUN_ALL_BATCH, plan_firings
from chalicelib.crons.model import MisfirePolicy

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EVERY_5 = parse_schedule("*/5 * * * *")


def at(minute: float) -> datetime:
    return T + timedelta(minutes=minute)


def test_a_slot_before_the_horizon_fires_now_and_the_next_one_waits() -> None:
    plan = plan_firings(EVERY_5, at(5), now=at(4), horizon=at(5), policy=MisfirePolicy.RUN_ONCE)
    assert plan.fire == [at(5)] and plan.next_run_at == at(10) and plan.skipped == 0


def test_nothing_fires_before_the_horizon_reaches_the_next_slot() -> None:
    plan = plan_firings(EVERY_5, at(5), now=at(3), horizon=at(4), policy=MisfirePolicy.RUN_ONCE)
    assert plan.fire == [] and plan.next_run_at == at(5)


def test_a_slot_a_little_late_is_on_time_not_missed() -> None:
    plan = plan_firings(EVERY_5, at(5), now=at(6), horizon=at(7), policy=MisfirePolicy.SKIP)
    assert plan.fire == [at(5)] and plan.skipped == 0


def test_run_once_catches_up_with_the_latest_missed_slot() -> None:
    plan = plan_firings(EVERY_5, at(5), now=at(32), horizon=at(33), policy=MisfirePolicy.RUN_ONCE)
    assert plan.fire == [at(30)] and plan.skipped == 5 and plan.next_run_at == at(35)


def test_run_once_merges_the_catch_up_into_a_slot_due_right_now() -> None:
    plan = plan_firings(EVERY_5, at(5), now=at(30), horizon=at(31), policy=MisfirePolicy.RUN_ONCE)
    assert plan.fire == [at(30)] and plan.skipped == 5


def test_run_all_runs_a_long_backlog_a_bounded_batch_per_tick() -> None:
    every_minute = parse_schedule("* * * * *")
    plan = plan_firings(every_minute, at(1), now=at(200), horizon=at(201), policy=MisfirePolicy.RUN_ALL)
    assert len(plan.fire) == RUN_ALL_BATCH and plan.fire[0] == at(1)
    assert plan.next_run_at == at(1 + RUN_ALL_BATCH)  # the next tick resumes where this one stopped
