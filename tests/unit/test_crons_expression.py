"""Cron schedules (chalicelib/crons/expression.py): fire times, DST, validation, descriptions.

Every time below is UTC unless it carries a zone. The DST transitions used, checked with zoneinfo:

- America/New_York  2026-03-08 07:00Z  01:59:59 EST -> 03:00 EDT   (02:00-02:59 skipped)
                    2026-11-01 06:00Z  01:59:59 EDT -> 01:00 EST   (01:00-01:59 twice)
- Europe/Berlin     2026-03-29 01:00Z  01:59:59 CET -> 03:00 CEST  (02:00-02:59 skipped)
                    2026-10-25 01:00Z  02:59:59 CEST -> 02:00 CET  (02:00-02:59 twice)
- Australia/Lord_Howe (a 30-minute shift)
                    2026-04-04 15:00Z  01:59:59 +11 -> 01:30 +1030 (01:30-01:59 twice, on 04-05)
                    2026-10-03 15:30Z  01:59:59 +1030 -> 02:30 +11 (02:00-02:29 skipped, on 10-04)
- America/Havana (shifts at midnight)
                    2026-03-08 05:00Z  23:59:59 CST -> 01:00 CDT   (00:00-00:59 skipped)
                    2026-11-01 05:00Z  00:59:59 CDT -> 00:00 CST   (00:00-00:59 twice)
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chalicelib.crons.expression import CronError, CronSchedule, parse_schedule
from chalicelib.errors import BadRequestError

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 4, 12, 34, 56, tzinfo=UTC)  # a Monday


def utc(text: str) -> datetime:
    """'2026-03-08 07:00' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utcs(*texts: str) -> list[datetime]:
    return [utc(text) for text in texts]


# --- The guide's table ------------------------------------------------------------------------

GUIDE_TABLE = [
    ("*/5 * * * *", ["2026-05-04 12:35", "2026-05-04 12:40", "2026-05-04 12:45"]),
    ("0 * * * *", ["2026-05-04 13:00", "2026-05-04 14:00", "2026-05-04 15:00"]),
    ("0 */6 * * *", ["2026-05-04 18:00", "2026-05-05 00:00", "2026-05-05 06:00"]),
    ("0 2 * * *", ["2026-05-05 02:00", "2026-05-06 02:00", "2026-05-07 02:00"]),
    ("0 0 * * 0", ["2026-05-10 00:00", "2026-05-17 00:00", "2026-05-24 00:00"]),
    ("0 0 1 * *", ["2026-06-01 00:00", "2026-07-01 00:00", "2026-08-01 00:00"]),
]


@pytest.mark.parametrize(("expression", "expected"), GUIDE_TABLE)
def test_the_guides_examples_fire_at_the_documented_times(expression: str, expected: list[str]) -> None:
    assert parse_schedule(expression).next_times(NOW, 3) == utcs(*expected)


def test_a_daily_job_in_a_timezone_fires_at_that_zones_wall_time() -> None:
    schedule = parse_schedule("0 2 * * *", "America/New_York")
    assert schedule.next_times(NOW, 2) == utcs("2026-05-05 06:00", "2026-05-06 06:00")  # 02:00 EDT


def test_a_zone_with_a_fractional_offset_is_honoured() -> None:
    assert parse_schedule("0 9 * * *", "Asia/Kolkata").next_after(NOW) == utc("2026-05-05 03:30")


# --- Names, ranges, lists, steps --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "0 9 * * mon-fri",
            ["2026-05-05 09:00", "2026-05-06 09:00", "2026-05-07 09:00", "2026-05-08 09:00", "2026-05-11 09:00"],
        ),
        ("0 9 * * MON,wed,Fri", ["2026-05-06 09:00", "2026-05-08 09:00", "2026-05-11 09:00"]),
        ("0 0 1 jan,jul *", ["2026-07-01 00:00", "2027-01-01 00:00"]),
        ("0 0 1 feb-apr *", ["2027-02-01 00:00", "2027-03-01 00:00", "2027-04-01 00:00"]),
        ("*/20 13-14 * * *", ["2026-05-04 13:00", "2026-05-04 13:20", "2026-05-04 13:40", "2026-05-04 14:00"]),
        ("5/20 * * * *", ["2026-05-04 12:45", "2026-05-04 13:05", "2026-05-04 13:25"]),
        ("10-20/5 13 * * *", ["2026-05-04 13:10", "2026-05-04 13:15", "2026-05-04 13:20", "2026-05-05 13:10"]),
        ("0 0 * * 7", ["2026-05-10 00:00", "2026-05-17 00:00"]),  # 7 is Sunday, as 0 is
        ("0 0 29 2 *", ["2028-02-29 00:00", "2032-02-29 00:00"]),  # leap days only
    ],
)
def test_names_ranges_lists_and_steps_select_the_right_times(expression: str, expected: list[str]) -> None:
    assert parse_schedule(expression).next_times(NOW, len(expected)) == utcs(*expected)


# --- Macros ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_macros_fire_like_their_five_field_expansion(macro: str, expansion: str) -> None:
    for zone in ("UTC", "Europe/Berlin"):
        expected = parse_schedule(expansion, zone).next_times(NOW, 5)
        assert parse_schedule(macro, zone).next_times(NOW, 5) == expected


def test_macros_are_case_insensitive_and_kept_as_written() -> None:
    schedule = parse_schedule("  @Daily ")
    assert schedule.expression == "@Daily"
    assert schedule.next_after(NOW) == utc("2026-05-05 00:00")


# --- L, LW, nL and # ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 0 L * *", ["2026-05-31 00:00", "2026-06-30 00:00", "2026-07-31 00:00"]),
        ("0 0 L 2 *", ["2027-02-28 00:00", "2028-02-29 00:00"]),
        ("0 0 LW * *", ["2026-05-29 00:00", "2026-06-30 00:00", "2026-07-31 00:00"]),  # 05-31 is a Sunday
        ("0 0 * * 5L", ["2026-05-29 00:00", "2026-06-26 00:00", "2026-07-31 00:00"]),  # last Friday
        ("0 0 * * MON#2", ["2026-05-11 00:00", "2026-06-08 00:00", "2026-07-13 00:00"]),
        ("0 0 * * 1#5", ["2026-06-29 00:00", "2026-08-31 00:00", "2026-11-30 00:00"]),  # months with five Mondays
        ("0 0 1,L * *", ["2026-05-31 00:00", "2026-06-01 00:00", "2026-06-30 00:00"]),
    ],
)
def test_last_day_and_nth_weekday_forms_select_the_right_days(expression: str, expected: list[str]) -> None:
    assert parse_schedule(expression).next_times(NOW, len(expected)) == utcs(*expected)


# --- Vixie day-of-month / day-of-week rules -------------------------------------------------


def test_both_day_fields_restricted_fire_on_either() -> None:
    # Vixie ORs them: the 15th (a Friday) and every Monday.
    times = parse_schedule("0 0 15 * 1").next_times(NOW, 4)
    assert times == utcs("2026-05-11 00:00", "2026-05-15 00:00", "2026-05-18 00:00", "2026-05-25 00:00")


def test_a_day_field_starting_with_a_star_makes_the_other_a_filter() -> None:
    # '*/10' starts with '*': days 1, 11, 21, 31 AND Monday; 05-11, 06-01 and 08-31 are Mondays.
    times = parse_schedule("0 0 */10 * 1").next_times(NOW, 3)
    assert times == utcs("2026-05-11 00:00", "2026-06-01 00:00", "2026-08-31 00:00")


def test_a_star_in_day_of_week_leaves_day_of_month_alone() -> None:
    assert parse_schedule("0 0 1-3 * *").next_times(NOW, 3) == utcs(
        "2026-06-01 00:00", "2026-06-02 00:00", "2026-06-03 00:00"
    )


def test_an_impossible_day_with_a_weekday_still_fires_on_that_weekday() -> None:
    # OR: February has no 31st, but its Mondays match; 2027-02-01 is one.
    assert parse_schedule("0 0 31 2 1").next_times(NOW, 2) == utcs("2027-02-01 00:00", "2027-02-08 00:00")


# --- DST: America/New_York ------------------------------------------------------------------


def test_new_york_fixed_time_in_the_skipped_hour_runs_once_after_it() -> None:
    schedule = parse_schedule("30 2 * * *", "America/New_York")
    times = schedule.times_between(utc("2026-03-07 00:00"), utc("2026-03-10 00:00"), 10)
    # 02:30 EST, then 03:00 EDT (no 02:30 that day), then 02:30 EDT.
    assert times == utcs("2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30")


def test_new_york_fixed_times_sharing_the_skipped_hour_run_once_together() -> None:
    schedule = parse_schedule("0,30 2 * * *", "America/New_York")
    times = schedule.times_between(utc("2026-03-08 00:00"), utc("2026-03-09 12:00"), 10)
    assert times == utcs("2026-03-08 07:00", "2026-03-09 06:00", "2026-03-09 06:30")


def test_new_york_fixed_time_in_the_repeated_hour_runs_once() -> None:
    schedule = parse_schedule("30 1 * * *", "America/New_York")
    times = schedule.times_between(utc("2026-10-31 00:00"), utc("2026-11-03 00:00"), 10)
    assert times == utcs("2026-10-31 05:30", "2026-11-01 05:30", "2026-11-02 06:30")  # not 11-01 06:30


def test_new_york_next_after_inside_the_second_pass_does_not_go_back() -> None:
    # 06:10Z is 01:10 EST, the second 01:10; the day's 01:30 already ran at 05:30Z.
    schedule = parse_schedule("30 1 * * *", "America/New_York")
    assert schedule.next_after(utc("2026-11-01 06:10")) == utc("2026-11-02 06:30")
    assert schedule.next_after(utc("2026-11-01 05:10")) == utc("2026-11-01 05:30")


def test_new_york_hourly_job_runs_every_real_hour_across_both_transitions() -> None:
    schedule = parse_schedule("0 * * * *", "America/New_York")
    # Spring: 00:00 EST, 01:00 EST, 03:00 EDT (there is no 02:00), 04:00 EDT.
    spring = schedule.times_between(utc("2026-03-08 04:30"), utc("2026-03-08 08:00"), 10)
    assert spring == utcs("2026-03-08 05:00", "2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00")
    # Fall: 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST.
    fall = schedule.times_between(utc("2026-11-01 03:30"), utc("2026-11-01 07:00"), 10)
    assert fall == utcs("2026-11-01 04:00", "2026-11-01 05:00", "2026-11-01 06:00", "2026-11-01 07:00")


def test_new_york_quarter_hours_fire_in_both_passes_of_the_repeated_hour() -> None:
    schedule = parse_schedule("*/15 * * * *", "America/New_York")
    times = schedule.times_between(utc("2026-11-01 05:00"), utc("2026-11-01 07:00"), 20)
    assert times == [utc("2026-11-01 05:15") + timedelta(minutes=15 * step) for step in range(8)]


# --- DST: Europe/Berlin ---------------------------------------------------------------------


def test_berlin_fixed_time_in_the_skipped_hour_runs_at_three() -> None:
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    assert schedule.next_times(utc("2026-03-28 02:00"), 2) == utcs("2026-03-29 01:00", "2026-03-30 00:30")


def test_berlin_fixed_time_in_the_repeated_hour_runs_in_the_first_pass() -> None:
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    assert schedule.next_times(utc("2026-10-24 12:00"), 2) == utcs("2026-10-25 00:30", "2026-10-26 01:30")
    assert schedule.next_after(utc("2026-10-25 01:10")) == utc("2026-10-26 01:30")  # 02:10 CET, second pass


def test_berlin_half_hourly_job_runs_through_both_passes_and_skips_the_gap() -> None:
    schedule = parse_schedule("*/30 * * * *", "Europe/Berlin")
    fall = schedule.times_between(utc("2026-10-24 23:45"), utc("2026-10-25 01:45"), 10)
    assert fall == utcs("2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 01:00", "2026-10-25 01:30")
    # Spring: 01:00 CET, 01:30 CET, 03:00 CEST: the real clock never shows 02:xx.
    spring = schedule.times_between(utc("2026-03-28 23:45"), utc("2026-03-29 01:00"), 10)
    assert spring == utcs("2026-03-29 00:00", "2026-03-29 00:30", "2026-03-29 01:00")


def test_berlin_wildcard_minutes_in_the_skipped_hour_have_no_slots() -> None:
    # '*/20 2 * * *' is a wildcard job for Vixie (minute starts with '*'): 02:xx does not exist.
    schedule = parse_schedule("*/20 2 * * *", "Europe/Berlin")
    assert schedule.next_after(utc("2026-03-28 12:00")) == utc("2026-03-30 00:00")  # 02:00 CEST next day


# --- DST: Australia/Lord_Howe (30-minute shift) ---------------------------------------------


def test_lord_howe_fixed_time_in_the_repeated_half_hour_runs_once() -> None:
    schedule = parse_schedule("45 1 * * *", "Australia/Lord_Howe")
    assert schedule.next_times(utc("2026-04-04 00:00"), 2) == utcs("2026-04-04 14:45", "2026-04-05 15:15")
    assert schedule.next_after(utc("2026-04-04 15:05")) == utc("2026-04-05 15:15")  # inside the second pass


def test_lord_howe_fixed_time_in_the_skipped_half_hour_runs_at_2_30() -> None:
    schedule = parse_schedule("15 2 * * *", "Australia/Lord_Howe")
    assert schedule.next_times(utc("2026-10-03 00:00"), 2) == utcs("2026-10-03 15:30", "2026-10-04 15:15")


def test_lord_howe_quarter_hour_job_fires_in_both_passes() -> None:
    schedule = parse_schedule("*/15 * * * *", "Australia/Lord_Howe")
    times = schedule.times_between(utc("2026-04-04 14:00"), utc("2026-04-04 15:30"), 10)
    # 01:15 01:30 01:45 (+11), 01:30 01:45 02:00 (+1030): every real quarter hour.
    assert times == [utc("2026-04-04 14:15") + timedelta(minutes=15 * step) for step in range(6)]


def test_lord_howe_hourly_job_has_no_slot_in_the_gap_and_keeps_its_minute() -> None:
    schedule = parse_schedule("0 * * * *", "Australia/Lord_Howe")
    # 01:00 +1030, then 03:00 +11: 02:00 never shows on the clock.
    assert schedule.times_between(utc("2026-10-03 14:00"), utc("2026-10-03 16:00"), 10) == utcs(
        "2026-10-03 14:30", "2026-10-03 16:00"
    )
    # Fall: 01:00 +11, then 02:00 +1030, an hour and a half later.
    assert schedule.times_between(utc("2026-04-04 13:30"), utc("2026-04-04 15:30"), 10) == utcs(
        "2026-04-04 14:00", "2026-04-04 15:30"
    )


def test_lord_howe_six_hourly_job_keeps_every_slot_across_the_shift() -> None:
    # cronsim 2.8 on its own skips the 06:00 slot here (see the module docstring).
    schedule = parse_schedule("0 */6 * * *", "Australia/Lord_Howe")
    times = schedule.next_times(utc("2026-04-04 13:00"), 3)
    assert [time.astimezone(ZoneInfo("Australia/Lord_Howe")).hour for time in times] == [6, 12, 18]
    assert times[0] == utc("2026-04-04 19:30")


# --- DST: America/Havana (midnight) ---------------------------------------------------------


def test_havana_midnight_runs_once_when_repeated_and_at_one_when_skipped() -> None:
    schedule = parse_schedule("0 0 * * *", "America/Havana")
    assert schedule.times_between(utc("2026-10-31 12:00"), utc("2026-11-02 12:00"), 5) == utcs(
        "2026-11-01 04:00", "2026-11-02 05:00"
    )
    assert schedule.times_between(utc("2026-03-07 12:00"), utc("2026-03-09 12:00"), 5) == utcs(
        "2026-03-08 05:00", "2026-03-09 04:00"
    )


# --- DST: agreement with an every-minute model ----------------------------------------------

TRANSITIONS = [
    ("America/New_York", "2026-03-08 07:00"),
    ("America/New_York", "2026-11-01 06:00"),
    ("Europe/Berlin", "2026-03-29 01:00"),
    ("Europe/Berlin", "2026-10-25 01:00"),
    ("Australia/Lord_Howe", "2026-04-04 15:00"),
    ("Australia/Lord_Howe", "2026-10-03 15:30"),
]
MODEL_EXPRESSIONS = ["30 1 * * *", "0 2 * * *", "45 2 * * *", "*/15 * * * *", "30 * * * *", "*/10 1 * * *"]


def _model_values(text: str, size: int) -> set[int]:
    """The values of a minute or hour field written as '*', '*/n', 'n' or 'a,b'."""
    if text.startswith("*"):
        return set(range(0, size, int(text[2:]) if "/" in text else 1))
    return {int(item) for item in text.split(",")}


def _model_fire_times(expression: str, zone_name: str, start: datetime, end: datetime) -> list[datetime]:
    """§5 by brute force, one real minute at a time (daily, wall-time fields only)."""
    zone = ZoneInfo(zone_name)
    minute_text, hour_text = expression.split()[:2]
    minutes, hours = _model_values(minute_text, 60), _model_values(hour_text, 24)
    wildcard = minute_text.startswith("*") or hour_text.startswith("*")
    fired_walls: set[datetime] = set()
    times = []
    instant = start.replace(second=0, microsecond=0) - timedelta(minutes=1)
    previous_wall = instant.astimezone(zone).replace(tzinfo=None)
    while instant < end:
        instant += timedelta(minutes=1)
        wall = instant.astimezone(zone).replace(tzinfo=None)
        # The wall times this minute makes "due": itself, plus any skipped by a forward jump.
        due = [wall]
        if not wildcard:
            skipped = previous_wall + timedelta(minutes=1)
            while skipped < wall:
                due.append(skipped)
                skipped += timedelta(minutes=1)
        previous_wall = wall
        matching = [w for w in due if w.minute in minutes and w.hour in hours]
        if wildcard and matching:
            times.append(instant)
        elif matching and not set(matching) <= fired_walls:
            fired_walls.update(matching)  # a fixed-time job runs once per wall time
            times.append(instant)
    return [time for time in times if start < time <= end]


@pytest.mark.parametrize(("zone_name", "transition"), TRANSITIONS)
def test_next_after_agrees_with_a_minute_by_minute_model_at_transitions(zone_name: str, transition: str) -> None:
    center = utc(transition)
    for expression in MODEL_EXPRESSIONS:
        schedule = parse_schedule(expression, zone_name)
        model = _model_fire_times(expression, zone_name, center - timedelta(hours=30), center + timedelta(hours=30))
        moment = center - timedelta(hours=6)
        while moment < center + timedelta(hours=6):
            expected = next(time for time in model if time > moment)
            assert schedule.next_after(moment) == expected, (expression, moment)
            moment += timedelta(minutes=17, seconds=23)


# --- times_between, next_times, next_after contracts ----------------------------------------


def test_times_between_excludes_start_includes_end_and_honours_the_limit() -> None:
    schedule = parse_schedule("0 * * * *")
    start, end = utc("2026-05-04 10:00"), utc("2026-05-04 13:00")
    assert schedule.times_between(start, end, 10) == utcs("2026-05-04 11:00", "2026-05-04 12:00", "2026-05-04 13:00")
    assert schedule.times_between(start, end, 2) == utcs("2026-05-04 11:00", "2026-05-04 12:00")
    assert schedule.times_between(start, end, 0) == []
    assert schedule.times_between(end, start, 10) == []


def test_times_between_across_a_dst_change_counts_real_slots() -> None:
    # A day-long outage over New York's fall-back: 25 real hours, 25 hourly slots.
    schedule = parse_schedule("0 * * * *", "America/New_York")
    assert len(schedule.times_between(utc("2026-11-01 04:00"), utc("2026-11-02 05:00"), 100)) == 25
    # The daily 02:00 job across spring-forward week: 03-08 runs at 03:00 EDT.
    daily = parse_schedule("0 2 * * *", "America/New_York")
    assert daily.times_between(utc("2026-03-06 00:00"), utc("2026-03-10 00:00"), 10) == utcs(
        "2026-03-06 07:00", "2026-03-07 07:00", "2026-03-08 07:00", "2026-03-09 06:00"
    )


def test_next_after_is_strictly_after_the_moment() -> None:
    schedule = parse_schedule("*/5 * * * *")
    assert schedule.next_after(utc("2026-05-04 12:35")) == utc("2026-05-04 12:40")
    assert schedule.next_after(utc("2026-05-04 12:34:59.999999")) == utc("2026-05-04 12:35")


def test_next_after_accepts_any_aware_moment_and_answers_in_utc() -> None:
    moment = NOW.astimezone(timezone(timedelta(hours=-7)))
    result = parse_schedule("0 2 * * *", "Europe/Berlin").next_after(moment)
    assert result == utc("2026-05-05 00:00")
    assert result.tzinfo is UTC


def test_naive_moments_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule("* * * * *").next_after(datetime(2026, 5, 4))


def test_next_times_returns_count_times_in_order() -> None:
    times = parse_schedule("0 0 * * *", "Pacific/Chatham").next_times(NOW, 400)
    assert len(times) == 400 and times == sorted(set(times))
    assert parse_schedule("0 0 * * *").next_times(NOW, 0) == []


def test_schedules_compare_by_expression_and_timezone() -> None:
    assert parse_schedule(" 0 2 * * * ", "UTC") == CronSchedule("0 2 * * *")
    assert parse_schedule("0 2 * * *", "UTC") != parse_schedule("0 2 * * *", "Europe/Berlin")


# --- Invalid expressions --------------------------------------------------------------------

FIELD_LABELS = ["minute", "hour", "day-of-month", "month", "day-of-week"]
VALID_FIELDS = ["0", "0", "1", "1", "*"]
BAD_ITEMS = ["x", "99", "-1", "1-", "5-1", "*/0", "*/99", "1,,2", "%", "1.5", "?"]


@pytest.mark.parametrize(("position", "bad"), list(itertools.product(range(5), BAD_ITEMS)))
def test_a_bad_field_is_rejected_naming_that_field(position: int, bad: str) -> None:
    fields = list(VALID_FIELDS)
    fields[position] = bad
    with pytest.raises(CronError) as caught:
        parse_schedule(" ".join(fields))
    assert caught.value.reason.startswith(f"{FIELD_LABELS[position]} field: ")
    assert caught.value.details == [{"field": "cron_expression", "message": caught.value.reason}]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("60 * * * *", "minute field: 60 is out of range 0-59"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("0 0 * * 5#6", "day-of-week field: '5#6': the n in day#n must be 1 to 5"),
        ("0 0 * foo *", "month field: 'foo' is not a number or a month name (jan-dec)"),
        ("0 0 * * fri-mon", "day-of-week field: range fri-mon is backwards (write the smaller bound first)"),
        ("*/90 * * * *", "minute field: step 90 in '*/90' must be 1 to 59"),
    ],
)
def test_out_of_range_values_say_what_the_range_is(expression: str, reason: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule(expression)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 0 31 2 *", "never fires: day 31 does not exist in February"),
        ("0 0 30 2 *", "never fires: day 30 does not exist in February"),
        ("0 0 30,31 feb *", "never fires: days 30, 31 do not exist in February"),
        ("0 0 31 4,6,9,11 *", "never fires: day 31 does not exist in April or June or September or November"),
        ("0 0 31 2 */2", "never fires"),
    ],
)
def test_an_expression_that_can_never_fire_is_rejected_at_parse(expression: str, fragment: str) -> None:
    with pytest.raises(CronError, match=fragment):
        parse_schedule(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0 " * 101, "longer than 200 characters"),
        ("* * * *", "4 fields given; expected 5"),
        ("0 0 * * * 2026 x", "7 fields given; expected 5"),
        ("0 */5 * * * *", "seconds are not supported"),
        ("@reboot", "unknown macro '@reboot'"),
        ("@every 5m", "unknown macro"),
        ("every day at noon", "4 fields given"),
        ("0 0 15W * *", "(nearest weekday) is not supported"),
        ("H * * * *", "'H' (hashed times) is not supported"),
        ("0 0 * * LW", "5L"),
    ],
)
def test_garbage_and_unsupported_syntax_are_rejected_with_a_reason(expression: str, fragment: str) -> None:
    with pytest.raises(CronError, match=re.escape(fragment)):
        parse_schedule(expression)


def test_a_non_string_expression_is_rejected() -> None:
    with pytest.raises(CronError, match="must be a string"):
        parse_schedule(None)  # type: ignore[arg-type]


def test_cron_errors_are_400s_with_the_api_error_shape() -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule("0 0 31 2 *")
    error = caught.value
    assert isinstance(error, BadRequestError) and error.status_code == 400
    assert error.code == "invalid_cron_expression"
    assert error.message.startswith("Invalid cron expression: never fires") and error.message.endswith(".")
    assert error.details[0]["field"] == "cron_expression"


# --- Timezones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Australia/Lord_Howe"]
)
def test_iana_timezones_are_accepted(zone: str) -> None:
    assert parse_schedule("0 2 * * *", zone).timezone == zone


@pytest.mark.parametrize(
    ("zone", "fragment"),
    [
        ("Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("europe/berlin", "did you mean 'Europe/Berlin'?"),
        ("", "timezone is empty"),
        ("../../etc/passwd", "unknown timezone"),
        ("/usr/share/zoneinfo/UTC", "unknown timezone"),
        ("localtime", "unknown timezone"),  # host-dependent: absent on Lambda
        ("Europe/Berlin\x00", "unknown timezone"),
        ("A" * 300, "unknown timezone"),
    ],
)
def test_an_unknown_timezone_is_rejected(zone: str, fragment: str) -> None:
    with pytest.raises(CronError, match=fragment) as caught:
        parse_schedule("0 2 * * *", zone)
    assert caught.value.code == "invalid_timezone"
    assert caught.value.details == [{"field": "timezone", "message": caught.value.reason}]


def test_the_timezone_database_ships_with_the_package() -> None:
    # Lambda's image does not promise /usr/share/zoneinfo; the pinned tzdata wheel does.
    assert importlib.util.find_spec("tzdata") is not None


# --- Descriptions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "description"),
    [
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 * * * *", "Every hour"),
        ("0 */6 * * *", "At minute 0 past every 6th hour"),
        ("0 2 * * *", "At 02:00 every day"),
        ("0 0 * * 0", "At 00:00 on Sunday"),
        ("0 0 1 * *", "At 00:00 on day 1 of the month"),
        ("* * * * *", "Every minute"),
        ("15 * * * *", "At minute 15 past every hour"),
        ("30 8 * * mon-fri", "At 08:30 on Monday through Friday"),
        ("0 9 * * 1,3,5", "At 09:00 on Monday, Wednesday and Friday"),
        ("0 0,12 * * *", "At 00:00 and 12:00 every day"),
        ("0 0 1,15 * *", "At 00:00 on days 1 and 15 of the month"),
        ("0 0 L * *", "At 00:00 on the last day of the month"),
        ("0 0 * * 5L", "At 00:00 on the last Friday of the month"),
        ("0 9 * * MON#2", "At 09:00 on the second Monday of the month"),
        ("0 0 * jan-mar *", "At 00:00 every day in January through March"),
        ("@daily", "At 00:00 every day"),
        ("@yearly", "At 00:00 on day 1 of January"),
        ("@weekly", "At 00:00 on Sunday"),
    ],
)
def test_common_forms_have_plain_descriptions(expression: str, description: str) -> None:
    assert parse_schedule(expression).description == description


def test_a_description_names_a_non_utc_timezone() -> None:
    assert parse_schedule("0 2 * * *", "America/New_York").description == "At 02:00 every day (America/New_York)"


@pytest.mark.parametrize(
    "expression", ["*/10 9-17 * * 1-5", "0 12 1-7 * 1", "5,10 1,2,3 * * *", "0 0 */10 * 1", "0 0 LW 1-6/2 *"]
)
def test_uncommon_forms_fall_back_to_a_generic_description(expression: str) -> None:
    description = parse_schedule(expression).description
    assert description and description[0].isupper()


# --- Layering -------------------------------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    return imported


def test_the_cron_modules_are_pure() -> None:
    for name in ("expression.py", "description.py"):
        assert not _imported_modules(ROOT / "chalicelib" / "crons" / name) & {
            "boto3",
            "botocore",
            "chalice",
            "requests",
            "moto",
        }


def test_only_the_cron_module_imports_a_cron_library() -> None:
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    importers = {
        path.relative_to(ROOT).as_posix() for path in sources if _imported_modules(path) & {"cronsim", "croniter"}
    }
    assert importers == {"chalicelib/crons/expression.py"}
