"""Holidays and blackout dates: whole days without sends, wrapped around a send window.

A mailbox or a campaign may name a holiday calendar (a country, optionally a
region, as the ``holidays`` library knows them: "US", "US-CA", "DE-BY",
"GB-SCT") and extra dates. ``BlackoutWindow`` is a window with those days
taken out: the slot allocator and the schedule preview ask it for openings
exactly as they ask a plain window, so no slot can fall on such a day.

The holiday dates are computed outside workflow code (the reservation activity,
the preview): the library's tables are data, not time-dependent, yet large.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from outbound.scheduling.windows import Window, local_date, local_datetime

_MAX_DAYS_SKIPPED = 800  # more consecutive days without a send than this is a bad calendar


class UnknownCalendar(ValueError):
    """The calendar names a country or region the holidays library does not know."""


@dataclass(frozen=True)
class BlackoutWindow:
    """``inner`` without the calendar days ``days`` (in ``zone_name``)."""

    inner: Window
    days: frozenset[date]
    zone_name: str

    @property
    def weekdays(self) -> frozenset[int]:
        """The inner window's weekdays (a day off removes a date, never a weekday)."""
        return self.inner.weekdays

    def contains(self, at: datetime) -> bool:
        """Inside the inner window, and not on a day off."""
        return local_date(at, self.zone_name) not in self.days and self.inner.contains(at)

    def next_opening(self, at: datetime) -> datetime:
        """The inner window's next opening that is not on a day off."""
        moment = self.inner.next_opening(at)
        for _ in range(_MAX_DAYS_SKIPPED):
            day = local_date(moment, self.zone_name)
            if day not in self.days:
                return moment
            moment = self.inner.next_opening(
                local_datetime(day + timedelta(days=1), time(0), self.zone_name)
            )
        raise ValueError(f"no day without a blackout within {_MAX_DAYS_SKIPPED} days")


def without_days(window: Window, days: frozenset[date], zone_name: str) -> Window:
    """``window`` minus ``days`` (the window itself when there are none)."""
    return BlackoutWindow(window, days, zone_name) if days else window


def parse_calendar(name: str) -> tuple[str, str | None]:
    """``"DE-BY"`` → ("DE", "BY"); raises ``UnknownCalendar`` for what the library lacks."""
    import holidays  # a large table; loaded where calendars are used, not by every worker

    country, _, region = name.strip().upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise UnknownCalendar(
            f"{country!r} is not a country the holidays calendar knows (ISO 3166 codes, e.g. "
            "US, GB, DE, FR)"
        )
    if region and region not in supported[country]:
        regions = ", ".join(sorted(supported[country])[:12])
        raise UnknownCalendar(
            f"{region!r} is not a region of {country} (e.g. {regions})"
            if supported[country]
            else f"{country} has no regions in the holidays calendar"
        )
    return country, region or None


@lru_cache(maxsize=256)
def holiday_dates(name: str, first_year: int, last_year: int) -> frozenset[date]:
    """The public holidays of calendar ``name`` in the given years."""
    import holidays

    country, region = parse_calendar(name)
    years = range(first_year, last_year + 1)
    return frozenset(holidays.country_holidays(country, subdiv=region, years=years).keys())


def days_off(
    calendar: str | None, extra: Iterable[str | date], around: date, years_ahead: int = 1
) -> frozenset[date]:
    """Holidays of ``calendar`` from the year of ``around`` through ``years_ahead`` more,
    and the ``extra`` dates (ISO strings or dates)."""
    days = {date.fromisoformat(d) if isinstance(d, str) else d for d in extra}
    if calendar:
        days |= holiday_dates(calendar, around.year, around.year + years_ahead)
    return frozenset(days)
