"""The arithmetic of fair sharing between stores (chalicelib/stores/policy.py)."""

from __future__ import annotations

import random

import pytest

from chalicelib.stores.policy import MAX_DEFER_S, MIN_DEFER_S, Caps, defer_delays, fits, paused_delays, updated_mean


@pytest.mark.parametrize(
    ("requested", "running", "plugin_running", "caps", "expected"),
    [
        (10, 0, 0, Caps(25, 15), 10),
        (10, 20, 0, Caps(25, 15), 5),
        (10, 0, 12, Caps(25, 15), 3),
        (10, 25, 0, Caps(25, 15), 0),
        (10, 30, 0, Caps(25, 15), 0),  # a cap lowered below what runs: nothing more, never negative
        (3, 0, 0, Caps(0, 15), 0),  # a cap of 0 runs nothing
    ],
)
def test_what_fits_is_what_both_caps_leave(
    requested: int, running: int, plugin_running: int, caps: Caps, expected: int
) -> None:
    assert fits(requested, running=running, plugin_running=plugin_running, caps=caps) == expected


def test_each_deferred_job_waits_for_its_place_behind_those_already_waiting() -> None:
    delays = defer_delays(10, waiting=50, cap=10, mean_run_s=60, rng=random.Random(1), first_free_s=20)
    # The 51st to 60th waiting of a store running 10 jobs of a minute, its first due to end in
    # 20 s: a slot frees every 6 s from then, and the group returns when its last place (the
    # 60th) has one.
    assert len(set(delays)) == 1
    assert 0.9 * (20 + 59 * 6) - 1 <= delays[0] <= 1.1 * (20 + 59 * 6)


def test_deferred_jobs_return_in_groups_of_a_batch_a_groups_worth_of_slots_apart() -> None:
    delays = defer_delays(30, waiting=5, cap=25, mean_run_s=100, rng=random.Random(3), group=10)
    # Places 5-9 end the first group, 10-19 the second, 20-29 the third, 30-34 start a fourth.
    groups = [delays[:5], delays[5:15], delays[15:25], delays[25:]]
    assert [len(set(g)) for g in groups] == [1, 1, 1, 1]
    firsts = [g[0] for g in groups]
    assert firsts == sorted(firsts) and len(set(firsts)) == 4
    # The second group's last place is the 20th: 19 slots of 4 s each, give or take a tenth.
    assert 0.9 * 19 * 4 - 1 <= groups[1][0] <= 1.1 * 19 * 4


def test_deferrals_stay_between_a_few_seconds_and_a_quarter_hour() -> None:
    rng = random.Random(2)
    assert defer_delays(3, waiting=0, cap=100, mean_run_s=0.5, rng=rng) == [MIN_DEFER_S] * 3
    assert set(defer_delays(3, waiting=10_000, cap=1, mean_run_s=600, rng=rng)) == {MAX_DEFER_S}
    assert defer_delays(2, waiting=-4, cap=0, mean_run_s=20, rng=rng)[0] >= MIN_DEFER_S  # drifted counts


def test_the_mean_run_time_moves_towards_each_sample() -> None:
    assert updated_mean(None, 12.0) == 12.0
    assert 10.0 < updated_mean(10.0, 20.0) < 20.0


def test_a_paused_stores_jobs_look_again_within_the_recheck_whatever_the_estimate() -> None:
    delays = paused_delays(50, recheck_s=60, rng=random.Random(1))
    assert all(54 <= delay <= 60 for delay in delays) and len(set(delays)) > 1  # spread, never later
    assert all(len(set(delays[start : start + 10])) == 1 for start in range(0, 50, 10))  # by the batch
    assert paused_delays(3, recheck_s=1, rng=random.Random(1)) == [MIN_DEFER_S] * 3
