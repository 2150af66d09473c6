"""Which language a caller reads schedule descriptions in, and the descriptions in it.

English is ours (``chalicelib.crons.description``). German, French, Spanish and Dutch come from
cron-descriptor, but only for the forms it reads right in that language: it takes weekday and
month names from the process's C locale (so they stay English inside a German sentence), says
"or" where Vixie ANDs the day fields, and names hours that never fire for a list of minutes at
fixed hours. Every other form is described in English. docs/crons.md has the comparison.
"""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, Options

SUPPORTED_LOCALES = ("en", "de", "fr", "es", "nl")
DEFAULT_LOCALE = "en"
MAX_HEADER_CHARS = 1000
_CATALOGUES = {"de": "de_DE", "fr": "fr_FR", "es": "es_ES", "nl": "nl_NL"}
# Day-of-month forms a catalogue translates wrongly (es: LW as "the last day of the week").
_MISTRANSLATED = {"es": ("W",)}


def negotiate(accept_language: str | None, requested: str | None = None) -> str:
    """The supported locale a request asks for: ``?locale=`` first, then ``Accept-Language`` by
    weight; English for anything else, malformed input included."""
    weighted: list[tuple[float, int, str]] = []
    if requested:
        weighted.append((2.0, 0, requested))
    for position, part in enumerate((accept_language or "")[:MAX_HEADER_CHARS].split(",")):
        tag, _, params = part.partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        weighted.append((weight, position + 1, tag))
    for weight, _, tag in sorted(weighted, key=lambda item: (-item[0], item[1])):
        language = tag.strip().lower().replace("_", "-").split("-")[0]
        if weight > 0 and language in SUPPORTED_LOCALES:
            return language
    return DEFAULT_LOCALE


def read_right(fields: list[str], locale: str) -> bool:
    """Whether cron-descriptor describes these (upper-cased, five) fields right in ``locale``."""
    minute, hour, day, month, weekday = fields
    if weekday != "*" or month != "*":
        return False
    fixed_hours = hour != "*" and not hour.startswith("*/")
    if fixed_hours and not minute.isdigit():
        return False
    return not any(mark in day for mark in _MISTRANSLATED.get(locale, ()))


def translated(fields: list[str], locale: str) -> str | None:
    """The description in ``locale`` (not English), or None where it would not be right."""
    catalogue = _CATALOGUES.get(locale)
    if catalogue is None or not read_right(fields, locale):
        return None
    options = Options()
    options.locale_code = catalogue
    options.use_24hour_time_format = True
    options.verbose = False
    return str(ExpressionDescriptor(" ".join(fields), options).get_description())
