"""The return date an out-of-office reply states, if it states one (pure; dateparser).

A date is only taken right after a cue that says it is the return date, in
English, German, French, Spanish or Dutch: "back on", "returning to the office
on", "until", "zurück am", "bis einschließlich", "de retour le", "jusqu'au",
"de vuelta el", "hasta el", "terug op", "tot en met" … A date elsewhere (a
signature's, a quoted message's, "out of the office starting 20/11") is not
one. The few words after the cue are read by ``dateparser`` in the cue's
language (day first, except in English), preferring dates to come and
counting weekdays and "tomorrow" from when the reply was written.

Only a date after the day the reply was written and at most ``HORIZON`` ahead
is taken: a past date, today, or a far one (a typo, a sabbatical) gives None,
and the sequence goes on as after any auto-reply. "Back on the 14th" and
"away until the 14th" both give the 14th; the caller resumes the day after
either way (the first day back is left to the inbox).

``dateparser`` is imported on the first call (its language data loads then,
10–100 ms per language once per process; a call costs about 1 ms after that).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

MAX_TEXT = 4096  # characters read: a return date comes in the first lines
HORIZON = timedelta(days=60)
MAX_CUES = 8  # cue phrases tried per text (each costs a few parses at most)
_MAX_WORDS = 5  # words after a cue that may make up the date

# Cue phrases per language: the date follows them. Fillers ("on", "am", "le", "el", "op")
# are part of the cue, so the fragment starts with the date itself.
_CUES: dict[str, str] = {
    "en": (
        r"\b(?:back|return(?:ing)?|in(?:to)? the office)"
        r"(?:\s+(?:in(?:to)?|to|at)\s+(?:the\s+|my\s+)?(?:office|work|desk))?"
        r"(?:\s+(?:on|from|by))?(?:\s+the)?"
        r"|\b(?:until|till|through|thru)(?:\s+and\s+including)?(?:\s+(?:on|the))?"
    ),
    "de": (
        r"\b(?:zurück|wieder(?:\s+(?:im\s+büro|erreichbar|da|im\s+haus))?)"
        r"(?:\s+(?:am|ab|bis|zum))?(?:\s+(?:dem|den))?"
        r"|\bbis(?:\s+(?:einschließlich|einschl\.|inkl\.|inklusive|zum|am))?(?:\s+(?:dem|den))?"
    ),
    "fr": (
        r"\b(?:de\s+retour|retour(?:\s+prévu)?)(?:\s+au\s+bureau)?"
        r"(?:\s+(?:le|à\s+partir\s+du|dès\s+le))?"
        r"|\bjusqu['’]\s*(?:au|à|a)(?:\s+(?:inclus|le))?"
    ),
    "es": (
        r"\b(?:de\s+vuelta|regres(?:o|aré|are)|volveré|vuelvo)(?:\s+a\s+la\s+oficina)?"
        r"(?:\s+(?:el|a\s+partir\s+del|desde\s+el))?"
        r"|\bhasta(?:\s+el)?"
    ),
    "nl": (
        r"\b(?:terug|weer\s+(?:aanwezig|op\s+kantoor|bereikbaar))(?:\s+(?:op|per|vanaf))?"
        r"|\btot(?:\s+en\s+met)?(?:\s+op)?"
    ),
}
_CUE = re.compile(
    "|".join(f"(?P<{language}>{pattern})" for language, pattern in _CUES.items()),
    re.IGNORECASE,
)
# A fragment ends at a paragraph's or a sentence's end (a dot after a number is a German
# ordinal or a date's, "4. Dezember", "14.12.", so it does not end one); a single line
# break is a wrapped line ("will not return until\n30/11/2026").
_FRAGMENT_END = re.compile(r"\n[ \t]*\r?\n|(?<!\d)[.!?;](?:\s|$)|[()\[\]<>]")
# "14.12." and "14.12.2026": written with slashes, which dateparser reads as a date
# (with dots it takes "14.12" for a time of day).
_DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.?(\d{2,4})?\.?")
_DATE_WORD = re.compile(r"\d|[^\W\d_]{3,}")
_BARE_DAY = re.compile(r"^(\d{1,2})(?:st|nd|rd|th|er|e|\.)?[,;:]?$", re.IGNORECASE)
_CLOCK = re.compile(r"^(?:[ap]\.?m\.?|h|uhr|heures?|horas?|uur|o'?clock|\d)", re.IGNORECASE)
_NUMERIC = re.compile(r"^\d{1,2}/\d{1,2}\b")
# Words between a cue and its date that dateparser would stumble on ("Montag, den 7.").
_FILLERS = frozenset({"den", "dem", "the", "le", "el", "on", "op"})


def return_date(text: str, received_at: datetime) -> date | None:
    """The return date ``text`` states (the first a cue introduces), if after the day of
    ``received_at`` and within ``HORIZON``; else None.

    >>> from datetime import UTC
    >>> written = datetime(2026, 12, 4, tzinfo=UTC)
    >>> return_date("Out of the office until Monday 14 December.", written)
    datetime.date(2026, 12, 14)
    """
    base = received_at.astimezone(UTC).replace(tzinfo=None) if received_at.tzinfo else received_at
    for found in list(_CUE.finditer(text[:MAX_TEXT]))[:MAX_CUES]:
        language = found.lastgroup or "en"
        fragment = _fragment(text[found.end() : found.end() + 80])
        for day in _dates(fragment, language, base):
            if base.date() < day <= (base + HORIZON).date():
                return day
    return None


def _fragment(after: str) -> str:
    """The words after a cue, up to the end of its sentence, without filler words."""
    end = _FRAGMENT_END.search(after)
    words = (after[: end.start()] if end else after).split()
    return " ".join(w for w in words if w.lower() not in _FILLERS).strip(",:-–")


def _dates(fragment: str, language: str, base: datetime) -> list[date]:
    """What the fragment's longest leading run of words reads as (none when no run is a
    date: the longest run that reads as one counts, so "5 pm today" is today, not the 5th).
    A numeric English date is read month first, then day first ("12/3", "3/12")."""
    dotted = _DOTTED_DATE.match(fragment)
    if dotted:
        day, month, year = dotted.groups()
        fragment = f"{day}/{month}" + (f"/{year}" if year else "") + fragment[dotted.end() :]
    orders = [None] if language != "en" else ["MDY", "DMY"] if _NUMERIC.match(fragment) else [None]
    words = fragment.split()[:_MAX_WORDS]
    bare = _BARE_DAY.match(words[0]) if words else None
    month = next((w for w in words[1:] if w.lower() not in ("of", "de", "del")), None)
    if bare and (month is None or not _time_or_month(month.strip(",.;:"), language, base)):
        day = _day_of_month(int(bare.group(1)), base)
        return [day] if day else []
    for count in range(len(words), 0, -1):
        candidate = " ".join(words[:count]).strip(" ,;:")
        if not _DATE_WORD.search(candidate):
            continue
        found = [
            parsed.date()
            for order in orders
            if (parsed := _parse(candidate, language, base, order))
        ]
        if found:
            return found
    return []


def _time_or_month(word: str, language: str, base: datetime) -> bool:
    """Whether the word after a bare number makes it a time ("5 pm") or a date ("5 May")."""
    return bool(_CLOCK.match(word) or _parse(word, language, base, None))


def _day_of_month(day: int, base: datetime) -> date | None:
    """The next such day of a month after ``base``, for "the 14th" (dateparser reads a
    bare "1st" … "12th" as a month)."""
    for ahead in (0, 1, 2):
        month_index = base.month - 1 + ahead
        year, month = base.year + month_index // 12, month_index % 12 + 1
        try:
            candidate = date(year, month, day)
        except ValueError:  # the 31st in a shorter month
            continue
        if candidate > base.date():
            return candidate
    return None


def _parse(candidate: str, language: str, base: datetime, order: str | None) -> datetime | None:
    import dateparser  # here: the inbound path pays for it only when an auto-reply comes

    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": base,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    if language != "en":
        settings["DATE_ORDER"] = "DMY"
    elif order is not None:
        settings["DATE_ORDER"] = order
    try:
        return dateparser.parse(candidate, languages=[language], settings=settings)
    except (ValueError, OverflowError, TypeError, KeyError):  # odd input never breaks the pipeline
        return None
