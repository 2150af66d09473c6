"""Pure domain logic: backoff, priority polling order, statuses."""

from __future__ import annotations

import pytest

from chalicelib.jobs.backoff import DEFAULT_BACKOFF_S, compute_backoff, parse_schedule
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority, attempts_allowed, has_retries_left
from devstack.priority import polling_order


def test_backoff_follows_the_guides_5s_30s_5min_then_stays_at_5min() -> None:
    assert [compute_backoff(n) for n in range(1, 7)] == [5, 30, 300, 300, 300, 300]
    assert DEFAULT_BACKOFF_S == (5, 30, 300)


def test_backoff_jitter_only_lengthens_the_wait() -> None:
    assert compute_backoff(2, jitter_ratio=0.5, rand=lambda: 0.0) == 30
    assert compute_backoff(2, jitter_ratio=0.5, rand=lambda: 1.0) == 45


def test_backoff_rejects_a_retry_number_below_one() -> None:
    with pytest.raises(ValueError):
        compute_backoff(0)


def test_backoff_schedules_parse_from_text_and_refuse_negative_steps() -> None:
    assert parse_schedule("1, 2,3") == (1, 2, 3)
    with pytest.raises(ValueError):
        parse_schedule("5,-1")


def test_priorities_are_served_urgent_high_normal_low_not_alphabetically() -> None:
    assert [p.value for p in PRIORITY_ORDER] == ["urgent", "high", "normal", "low"]
    assert sorted(p.value for p in Priority) != [p.value for p in PRIORITY_ORDER]


def test_polling_order_is_strict_while_nothing_starves() -> None:
    now = 1000.0
    recent = {p: now - 1 for p in Priority}
    assert polling_order(now, recent, aging_s=30) == list(PRIORITY_ORDER)


def test_a_queue_unpolled_past_the_aging_limit_is_polled_first() -> None:
    now = 1000.0
    last = {Priority.URGENT: now, Priority.HIGH: now, Priority.NORMAL: now - 40, Priority.LOW: now - 90}
    assert polling_order(now, last, aging_s=30) == [Priority.LOW, Priority.NORMAL, Priority.URGENT, Priority.HIGH]


def test_max_retries_counts_retries_not_attempts() -> None:
    assert attempts_allowed(3) == 4
    assert has_retries_left(3, 3)
    assert not has_retries_left(4, 3)
