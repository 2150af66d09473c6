"""Cron schedules: parse and validate, describe, and compute fire times.

This is the only module that imports a cron library for fire times (descriptions in other
languages come from cron-descriptor, in ``chalicelib.crons.locales``). It is pure: no AWS, no web, no clock (callers
pass the moment in).

Syntax: five fields ``minute hour day-of-month month day-of-week``; names (``jan``, ``mon``), ranges,
lists and steps; ``@hourly @daily @midnight @weekly @monthly @yearly @annually``; ``L`` and ``LW``
in day-of-month (last day, last weekday of the month), ``5L`` in day-of-week (last Friday) and
``MON#2`` (second Monday). Not supported, each with a clear error: ``W`` as in ``15W`` (nearest
weekday; cronsim lacks it), ``?``, ``H``, and a seconds field: tickwork runs at minute granularity.
Day-of-month and day-of-week combine as in Vixie cron: OR when both are restricted, AND when either
field starts with ``*`` (so ``0 0 */10 * 1`` means "days 1, 11, 21, 31 that are Mondays").

Implementation note: why cronsim, and why the timezone mapping is ours.
Measured here (croniter 7.0.0, cronsim 2.8) against a brute-force model of §5 across two
transitions in each of America/New_York, Europe/Berlin, Australia/Lord_Howe (30-minute shift),
America/Santiago and America/Havana (midnight shifts) and Pacific/Chatham (:45 shift), 17
expressions, a start every 10 minutes over ±30 h (73,440 calls each):

- croniter: 580 wrong answers. Fixed-time jobs fire twice in a repeated hour (``30 1 * * *``,
  New York, 2026-11-01: 05:30Z and 06:30Z; ``0 0 * * *`` in Havana likewise); ``0 */6 * * *``
  gains a 01:00 run when midnight is skipped (Havana, Santiago); ``*/7 2 * * *`` runs at 03:00 on
  a spring-forward day. It also ORs ``0 0 */10 * 1`` (not Vixie), reads a one-value range as ``*``
  (``10 9 28-28 * *`` fired on 11-13), raises on a never-firing ``0 0 31 2 *`` only when iterated
  (0.9 ms here; ``is_valid`` says True), and made 10-21k next() calls/s.
- cronsim, aware datetimes: 206 wrong answers. It fires fixed-time jobs once in the repeated hour,
  but can return a time before its start there (start 06:10Z, ``30 1 * * *`` -> 05:30Z); with
  that filtered, 181 remain, all in zones whose shift is not a whole hour at a whole hour: in
  Lord_Howe ``0 */6 * * *`` skips 06:00 on 2026-04-05 and ``30 * * * *`` skips the second 01:30;
  in Chatham ``*/7 2 * * *`` misses the repeated 02:4x. It made 26-101k next() calls/s, has no
  dependencies, ANDs/ORs day fields like Vixie and rejects ``0 0 31 2 *`` at parse.

So cronsim does the calendar work on naive wall-clock times (no timezone: there it is exact; on
2,902 random naive cases without one-value ranges it agreed with croniter given the Vixie day
rule, the 4 differences being never-firing expressions both reject) and this module maps wall
time to real time, with the two Vixie rules made explicit. Against the same model: 0 wrong
answers in 164,670 calls (nine zones) and in 558 random expressions near transitions.

- A *fixed-time* job (neither minute nor hour field starts with ``*``) fires at the first real
  instant showing its wall time: once in a repeated (fall-back) hour, and right after the jump
  when the time falls in a skipped (spring-forward) gap.
- A *wildcard* job (minute or hour starts with ``*``, e.g. ``*/15 * * * *``, ``0 * * * *``) fires
  at every real instant whose wall time matches: in both passes of a repeated hour, never in a gap.
  Its search walks stretches of constant UTC offset; offset changes are found by probing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from chalicelib.crons.description import MONTHS, describe_fields
from chalicelib.crons.locales import DEFAULT_LOCALE, translated
from chalicelib.errors import BadRequestError

MAX_EXPRESSION_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_ORDER = "minute hour day-of-month month day-of-week"
# Offset changes since 1970 are at least 6.9 days apart in every tzdata zone (597,600 s, measured
# with tzdata 2026f), so probing the offset once a day cannot step over a change and back.
OFFSET_PROBE_STEP = timedelta(days=1)
# Start of the never-fires probe; cronsim gives up after 50 years without a match.
PROBE_EPOCH = datetime(2000, 1, 1)
# Names zoneinfo may find on one host and not on another (Lambda ships tzdata, not /usr/share).
HOST_ONLY_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# Zones whose offset never changes: the wildcard search skips offset probes for them (a rare
# "* * 29 2 *" would otherwise probe daily across four years).
STEADY_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "GMT", "Etc/GMT", "UCT", "Zulu"})
ZONE_KEY = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


class CronError(BadRequestError):
    """Raised when a cron expression or a timezone is invalid; ``details`` names the field."""

    code = "invalid_cron_expression"

    def __init__(self, reason: str, *, field: str = "cron_expression") -> None:
        what = "timezone" if field == "timezone" else "cron expression"
        super().__init__(
            f"Invalid {what}: {reason}{'' if reason.endswith('?') else '.'}",
            code="invalid_timezone" if field == "timezone" else "invalid_cron_expression",
            details=[{"field": field, "message": reason}],
        )
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _FieldSpec:
    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # value of the first name: JAN is 1, SUN is 0
    step_limit: int = 0  # steps must be below the field's size; a larger one selects a single value

    def value(self, text: str) -> int:
        """One number or name of this field, range-checked."""
        if self.names and text.upper() in self.names:
            return self.names.index(text.upper()) + self.name_base
        if not text.isdigit():
            raise self.error(self._not_a_value(text))
        number = int(text)
        if not self.low <= number <= self.high:
            raise self.error(f"{number} is out of range {self.low}-{self.high}")
        return number

    def _not_a_value(self, text: str) -> str:
        if text == "":
            return "a number is missing"
        if text == "?":
            return "'?' is not supported; use '*'"
        if text.upper() == "H":
            return "'H' (hashed times) is not supported"
        if text.upper().endswith("W"):
            return f"'{text}' (nearest weekday) is not supported; only LW (last weekday of the month) is"
        if self.names:
            first, last = self.names[0].lower(), self.names[-1].lower()
            kind = "month" if self.label == "month" else "day"
            return f"'{text}' is not a number or a {kind} name ({first}-{last})"
        return f"'{text}' is not a number"

    def error(self, reason: str) -> CronError:
        return CronError(f"{self.label} field: {reason}")


FIELDS = (
    _FieldSpec("minute", 0, 59, step_limit=60),
    _FieldSpec("hour", 0, 23, step_limit=24),
    _FieldSpec("day-of-month", 1, 31, step_limit=31),
    _FieldSpec("month", 1, 12, tuple(MONTH_NAMES), 1, step_limit=12),
    _FieldSpec("day-of-week", 0, 7, tuple(DAY_NAMES), 0, step_limit=7),
)
DAY_OF_MONTH, MONTH, DAY_OF_WEEK = 2, 3, 4


def _check_term(spec: _FieldSpec, term: str, index: int) -> set[int]:
    """Validate one list item as cronsim will read it; return the plain numbers it selects.

    The grammar mirrors cronsim's ``Field.parse`` so that whatever passes here cronsim accepts,
    but every rejection says what is wrong. Special days (``L``, ``LW``, ``5L``, ``#``) select
    no plain number.
    """
    if term == "":
        raise spec.error("empty item in a list")
    if index == DAY_OF_MONTH and term.upper() in ("L", "LW"):
        return set()
    if index == DAY_OF_WEEK and "L" in term.upper():
        if not term[:-1].isdigit() or term[-1] not in "Ll":
            raise spec.error(f"'{term}' is not valid; the last weekday of the month is written like 5L (last Friday)")
        spec.value(term[:-1])
        return set()
    if index == DAY_OF_WEEK and "#" in term:
        day, _, nth = term.partition("#")
        spec.value(day)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise spec.error(f"'{term}': the n in day#n must be 1 to 5")
        return set()
    if "/" in term:
        base, _, step_text = term.partition("/")
        if not step_text.isdigit():
            raise spec.error(f"step '{step_text}' in '{term}' is not a number")
        step = int(step_text)
        if not 1 <= step < spec.step_limit:
            raise spec.error(f"step {step} in '{term}' must be 1 to {spec.step_limit - 1}")
        if base == "*":
            return set(range(spec.low, spec.high + 1, step))
        if "-" not in base:
            # "5/15" means "from 5 to the end, every 15th", as in cronsim and Vixie.
            return set(range(spec.value(base), spec.high + 1, step))
        return set(sorted(_check_term(spec, base, index))[::step])
    if term == "*":
        return set(range(spec.low, spec.high + 1))
    if "-" in term:
        first_text, _, last_text = term.partition("-")
        if not first_text or not last_text:
            raise spec.error(f"range '{term}' is missing a bound")
        first, last = spec.value(first_text), spec.value(last_text)
        if last < first:
            raise spec.error(f"range {term} is backwards (write the smaller bound first)")
        return set(range(first, last + 1))
    return {spec.value(term)}


def _check_fields(fields: list[str]) -> None:
    """Validate each field, then reject a day that no selected month has (cronsim's own check)."""
    numbers = []
    for index, (spec, text) in enumerate(zip(FIELDS, fields, strict=True)):
        selected: set[int] = set()
        for term in text.split(","):
            selected |= _check_term(spec, term, index)
        numbers.append(selected)
    days, months = fields[DAY_OF_MONTH], fields[MONTH]
    day_and = days.startswith("*") or fields[DAY_OF_WEEK].startswith("*")
    plain_days = numbers[DAY_OF_MONTH]
    # Only plain numbers can be impossible: L and LW exist in every month.
    if day_and and plain_days and set(days.upper().split(",")).isdisjoint({"L", "LW"}):
        longest = max(DAYS_IN_MONTH[month - 1] for month in numbers[MONTH])
        if min(plain_days) > longest:
            impossible = sorted(plain_days)
            day_text = f"day {impossible[0]}" if len(impossible) == 1 else "days " + ", ".join(map(str, impossible))
            month_text = " or ".join(MONTHS[month - 1] for month in sorted(numbers[MONTH]))
            verb = "does" if len(impossible) == 1 else "do"
            raise CronError(f"never fires: {day_text} {verb} not exist in {month_text} ('{months}' in the month field)")


def _expand(expression: str) -> str:
    """The five-field form of ``expression`` (macros expanded), validated field by field."""
    if expression.startswith("@"):
        macro = expression.lower()
        if macro not in MACROS:
            raise CronError(f"unknown macro '{expression}'; use one of {', '.join(MACROS)}")
        return MACROS[macro]
    fields = expression.split()
    if len(fields) == 6:
        raise CronError(
            "6 fields given, but tickwork schedules are minute-granular: seconds are not supported; "
            f"use 5 fields ({FIELD_ORDER})"
        )
    if len(fields) != 5:
        raise CronError(f"{len(fields)} field{'s' if len(fields) != 1 else ''} given; expected 5 ({FIELD_ORDER})")
    _check_fields(fields)  # on the fields as written, so that messages quote the user
    return " ".join(fields).upper()


def _load_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise CronError("timezone is empty; use an IANA name such as 'UTC' or 'Europe/Berlin'", field="timezone")
    key = name.strip()
    if len(key) <= MAX_TIMEZONE_LENGTH and ZONE_KEY.match(key) and key not in HOST_ONLY_ZONES:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    shown = key if len(key) <= MAX_TIMEZONE_LENGTH else key[:MAX_TIMEZONE_LENGTH] + "..."
    reason = f"unknown timezone '{shown}'; use an IANA name such as 'UTC' or 'Europe/Berlin'"
    # A wrong case is the usual slip ('europe/berlin'); name the right spelling (the 25 ms scan
    # only runs on this failure path).
    matches = [zone for zone in available_timezones() if zone.lower() == key.lower()]
    if matches and matches[0] not in HOST_ONLY_ZONES:
        reason = f"unknown timezone '{shown}'; did you mean '{matches[0]}'?"
    raise CronError(reason, field="timezone")


def _offset_change(zone: tzinfo, since: datetime, until: datetime, offset: timedelta) -> datetime | None:
    """The first instant in (since, until] whose UTC offset is not ``offset``, or None.

    zoneinfo does not expose its transition table, so probe once a day (see OFFSET_PROBE_STEP)
    and bisect to the second on a change: transitions fall on whole seconds.
    """
    probe = since
    while probe < until:
        # Stepping by the gap left, not min(probe + step, until): near 9999-12-31 the sum overflows.
        previous, probe = probe, probe + min(OFFSET_PROBE_STEP, until - probe)
        if probe.astimezone(zone).utcoffset() != offset:
            low, high = math.floor(previous.timestamp()), math.ceil(probe.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, UTC)
    return None


def _first_instant(wall: datetime, zone: tzinfo) -> datetime:
    """The first real instant (UTC) showing the naive wall time ``wall``, or the end of its gap."""
    instant = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first pass of a repeated hour
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # ``wall`` falls in a spring-forward gap: run when the clock lands after the jump. Gaps end on
    # a whole minute in every zone, so minute steps find that landing exactly (at most 60 here).
    while instant.astimezone(zone).replace(tzinfo=None) != wall:
        wall += timedelta(minutes=1)
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression in an IANA timezone; computes fire times in UTC.

    Build it with ``parse_schedule``; constructing it directly validates the same way.
    """

    expression: str
    timezone: str = "UTC"
    _fields: str = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _wildcard: bool = field(init=False, repr=False, compare=False)
    _steady: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise CronError("cron expression must be a string")
        expression = self.expression.strip()
        if not expression:
            raise CronError(f"cron expression is empty; expected 5 fields ({FIELD_ORDER}), e.g. '0 2 * * *'")
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise CronError(f"cron expression is longer than {MAX_EXPRESSION_LENGTH} characters")
        fields = _expand(expression)
        try:
            # cronsim re-checks what _check_fields let through, and gives up after 50 years
            # without a match: the backstop for a combination that can never fire.
            next(CronSim(fields, PROBE_EPOCH))
        except CronSimError as exc:
            raise CronError(f"not accepted by the cron parser ({exc})") from None
        except StopIteration:
            raise CronError("never fires: no date in 50 years matches it") from None
        zone = _load_zone(self.timezone)
        minute, hour = fields.split()[:2]
        object.__setattr__(self, "expression", expression)
        object.__setattr__(self, "timezone", self.timezone.strip())
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_zone", zone)
        # Vixie cron's rule (flags MIN_STAR/HR_STAR): a field *starting* with '*' is a wildcard.
        object.__setattr__(self, "_wildcard", minute.startswith("*") or hour.startswith("*"))
        object.__setattr__(self, "_steady", zone.key in STEADY_ZONES or zone.key.startswith("Etc/GMT"))

    @property
    def description(self) -> str:
        """Human text, e.g. "At 02:00 every day (America/New_York)"."""
        return self.describe(DEFAULT_LOCALE)

    def describe(self, locale: str) -> str:
        """The description in ``locale`` (one of SUPPORTED_LOCALES) where it can be said right
        there, in English otherwise (chalicelib/crons/locales.py)."""
        fields = self._fields.split()
        text = translated(fields, locale) or describe_fields(fields)
        if text is None:
            text = CronSim(self._fields, PROBE_EPOCH).explain()
        return text if self.timezone == "UTC" else f"{text} ({self.timezone})"

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (aware), in UTC."""
        for instant in self._times_after(_require_aware(moment, "moment")):
            return instant
        raise CronError("never fires again: no date in 50 years matches it")

    def next_times(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after``, in UTC, ascending."""
        times: list[datetime] = []
        if count <= 0:
            return times
        for instant in self._times_after(_require_aware(after, "after")):
            times.append(instant)
            if len(times) == count:
                break
        return times

    def times_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Fire times t with start < t <= end, ascending, at most ``limit`` (missed-slot catch-up)."""
        end_utc = _require_aware(end, "end")
        times: list[datetime] = []
        if limit <= 0:
            return times
        for instant in self._times_after(_require_aware(start, "start")):
            if instant > end_utc:
                break
            times.append(instant)
            if len(times) == limit:
                break
        return times

    def _times_after(self, after: datetime) -> Iterator[datetime]:
        times = self._wildcard_times(after) if self._wildcard else self._fixed_times(after)
        return _until_calendar_end(times)

    def _fixed_times(self, after: datetime) -> Iterator[datetime]:
        """Fire times of a fixed-time job: each matching wall time once, at its first instant."""
        wall = after.astimezone(self._zone).replace(tzinfo=None)
        latest = after
        # A wall time before ``wall`` always maps before ``after``; one after it may still map
        # before (``after`` in the second pass of a repeated hour) or onto the same gap end as
        # its predecessor: skipping results <= the latest one handles both.
        for candidate in CronSim(self._fields, wall):
            instant = _first_instant(candidate, self._zone)
            if instant > latest:
                latest = instant
                yield instant

    def _wildcard_times(self, after: datetime) -> Iterator[datetime]:
        """Fire times of a wildcard job: every real instant whose wall time matches.

        Within a stretch of constant UTC offset, wall time is UTC plus that offset, so cronsim's
        naive answer minus the offset is the instant, unless the offset changes first; then the
        search restarts at the change, including it, with the new offset.
        """
        start, inclusive = after, False
        while True:
            local = start.astimezone(self._zone)
            offset = local.utcoffset()
            assert offset is not None  # zoneinfo always knows the offset of an instant
            wall = local.replace(tzinfo=None)
            # cronsim yields times strictly after its start: back off a second to include ``start``.
            candidates = CronSim(self._fields, wall - timedelta(seconds=1) if inclusive else wall)
            checked = start
            for candidate in candidates:
                instant = (candidate - offset).replace(tzinfo=UTC)
                change = None if self._steady else _offset_change(self._zone, checked, instant, offset)
                if change is not None:
                    start, inclusive = change, True
                    break
                checked = instant
                yield instant
            else:
                return  # cronsim found nothing in 50 years


def _until_calendar_end(times: Iterator[datetime]) -> Iterator[datetime]:
    """``times`` up to the end of datetime's calendar (9999-12-31): a slot past it does not exist.

    cronsim, the wall-to-UTC mapping and the offset probes all step datetimes and raise
    OverflowError there; the schedule simply has no further slots.
    """
    try:
        yield from times
    except OverflowError:
        return


def parse_schedule(expression: str, timezone: str = "UTC") -> CronSchedule:
    """Validate ``expression`` and ``timezone``; raises CronError naming the field at fault."""
    return CronSchedule(expression, timezone)
