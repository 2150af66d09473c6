"""Human descriptions of the common cron forms ("At 02:00 every day", "Every 5 minutes").

Pure string work on an already validated, upper-cased five-field expression. Forms it does not
phrase return None, and ``chalicelib.crons.expression`` (the only module that imports the cron library) falls
back to cronsim's own explanation, which covers everything cronsim parses but reads stiffly for
the common cases ("Every fifth minute of every hour").
"""

from __future__ import annotations

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]  # 0 and 7 are Sunday
MONTH_ABBREVIATIONS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_ABBREVIATIONS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
NTH = ["", "first", "second", "third", "fourth", "fifth"]
# More clock times than this read better as the library's field-by-field explanation.
MAX_LISTED_TIMES = 4


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def join_words(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _number(text: str, names: list[str] | None = None, base: int = 0) -> int | None:
    if names and text in names:
        return names.index(text) + base
    return int(text) if text.isdigit() else None


def _numbers(text: str, names: list[str] | None = None, base: int = 0) -> list[int] | None:
    """The values of a plain list such as '1,15' or 'MON,FRI'; None for ranges, steps, specials."""
    values = [_number(item, names, base) for item in text.split(",")]
    if any(value is None for value in values):
        return None
    return sorted({value for value in values if value is not None})


def _time_phrase(minute: str, hour: str) -> tuple[str, bool] | None:
    """The time-of-day part, and whether it names clock times (then 'every day' reads well)."""
    if minute == "*" and hour == "*":
        return "Every minute", False
    if minute.startswith("*/") and hour == "*":
        step = int(minute[2:])
        return ("Every minute" if step == 1 else f"Every {step} minutes"), False
    minutes = _numbers(minute)
    if minutes is None or len(minutes) != 1:
        hours = _numbers(hour)
        if minutes is None or hours is None or len(minutes) * len(hours) > MAX_LISTED_TIMES:
            return None
        return "At " + join_words([f"{h:02d}:{m:02d}" for h in hours for m in minutes]), True
    (only_minute,) = minutes
    if hour == "*":
        return ("Every hour" if only_minute == 0 else f"At minute {only_minute} past every hour"), False
    if hour.startswith("*/"):
        step = int(hour[2:])
        every = "every hour" if step == 1 else f"every {ordinal(step)} hour"
        return f"At minute {only_minute} past {every}", False
    hours = _numbers(hour)
    if hours is None or len(hours) > MAX_LISTED_TIMES:
        return None
    return "At " + join_words([f"{h:02d}:{only_minute:02d}" for h in hours]), True


def _weekday_phrase(text: str) -> str | None:
    if text.endswith("L") and text[:-1].isdigit():
        return f"on the last {DAYS[int(text[:-1])]} of the month"
    if "#" in text and "," not in text:
        day, _, nth = text.partition("#")
        number = _number(day, DAY_ABBREVIATIONS)
        return None if number is None else f"on the {NTH[int(nth)]} {DAYS[number]} of the month"
    if "-" in text and "," not in text and "/" not in text:
        first, _, last = text.partition("-")
        low, high = _number(first, DAY_ABBREVIATIONS), _number(last, DAY_ABBREVIATIONS)
        return None if low is None or high is None else f"on {DAYS[low]} through {DAYS[high]}"
    days = _numbers(text, DAY_ABBREVIATIONS)
    if days is None:
        return None
    names = list(dict.fromkeys(DAYS[day] for day in days))  # 0 and 7 are both Sunday
    return "on " + join_words(names)


def _month_day_phrase(text: str) -> str | None:
    if text == "L":
        return "on the last day of the month"
    if text == "LW":
        return "on the last weekday of the month"
    days = _numbers(text)
    if days is None:
        return None
    return f"on day{'s' if len(days) > 1 else ''} {join_words([str(day) for day in days])} of the month"


def _month_phrase(text: str) -> str | None:
    if "-" in text and "," not in text and "/" not in text:
        first, _, last = text.partition("-")
        low, high = _number(first, MONTH_ABBREVIATIONS, 1), _number(last, MONTH_ABBREVIATIONS, 1)
        return None if low is None or high is None else f"in {MONTHS[low - 1]} through {MONTHS[high - 1]}"
    months = _numbers(text, MONTH_ABBREVIATIONS, 1)
    return None if months is None else "in " + join_words([MONTHS[month - 1] for month in months])


def describe_fields(fields: list[str]) -> str | None:
    """Describe ``minute hour day month weekday``; None when the form is not a common one."""
    minute, hour, day, month, weekday = fields
    time = _time_phrase(minute, hour)
    if time is None:
        return None
    text, clock_times = time
    if day != "*" and weekday != "*":
        return None  # both restricted: Vixie ORs them, which the library's wording spells out
    parts = [text]
    if weekday != "*":
        phrase = _weekday_phrase(weekday)
    elif day != "*":
        phrase = _month_day_phrase(day)
    else:
        phrase = "every day" if clock_times else ""
    if phrase is None:
        return None
    if phrase:
        parts.append(phrase)
    if month != "*":
        month_text = _month_phrase(month)
        if month_text is None:
            return None
        if parts[-1].endswith(" of the month"):
            # "on day 1 of January" reads better than "on day 1 of the month in January"
            parts[-1] = parts[-1].removesuffix(" of the month") + " of " + month_text.removeprefix("in ")
        else:
            parts.append(month_text)
    return " ".join(parts)
