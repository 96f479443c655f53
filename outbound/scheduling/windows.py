"""Send windows: allowed weekdays and hours in a time zone, DST-correct."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

MONDAY_TO_FRIDAY = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
_SEARCH_DAYS = 8  # one week and a day: any allowed weekday recurs within it


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (cached: building zones is slow)."""
    return ZoneInfo(name)


def local_datetime(day: date, clock: time, zone_name: str) -> datetime:
    """The UTC instant of wall-clock ``clock`` on ``day`` in ``zone_name``.

    The offset is the one in force on that day. A wall time skipped by a
    spring-forward transition maps to the same distance after the transition
    (02:30 → 03:30); an ambiguous fall-back time takes its first occurrence.
    """
    return datetime.combine(day, clock, tzinfo=zone(zone_name)).astimezone(UTC)


def local_date(at: datetime, zone_name: str) -> date:
    """The calendar day of ``at`` in ``zone_name``."""
    return at.astimezone(zone(zone_name)).date()


class Window(Protocol):
    """What the slot allocator asks of a window (``SendWindow`` and ``IntersectedWindow``).

    It must also be hashable: the allocator keys its per-window caches by it.
    """

    @property
    def zone_name(self) -> str:
        """The zone whose calendar days ``weekdays`` names."""
        ...

    @property
    def weekdays(self) -> frozenset[int]:
        """Every weekday (in ``zone_name``) with an instant inside; it may name more."""
        ...

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` is inside the window."""
        ...

    def next_opening(self, at: datetime) -> datetime:
        """The earliest instant ≥ ``at`` inside the window."""
        ...


@dataclass(frozen=True)
class SendWindow:
    """Allowed weekdays (0 = Monday) and [start, end) hours, in ``zone_name``.

    ``end = time(0)`` means midnight at the end of the day (24:00).
    """

    zone_name: str = "UTC"
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    start: time = time(9, 0)
    end: time = time(17, 0)

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= EVERY_DAY:
            raise ValueError("weekdays must be a non-empty subset of 0 (Monday) … 6 (Sunday)")
        if self.end != time(0) and self.start >= self.end:
            raise ValueError("the window must start before it ends (same day)")

    def bounds(self, day: date) -> tuple[datetime, datetime] | None:
        """UTC opening and closing on local ``day``; None if the day is not allowed."""
        if day.weekday() not in self.weekdays:
            return None
        opening = local_datetime(day, self.start, self.zone_name)
        if self.end == time(0):
            return opening, local_datetime(day + timedelta(days=1), time(0), self.zone_name)
        return opening, local_datetime(day, self.end, self.zone_name)

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` is inside the window (judged in local time)."""
        bounds = self.bounds(local_date(at, self.zone_name))
        return bounds is not None and bounds[0] <= at < bounds[1]

    def next_opening(self, at: datetime) -> datetime:
        """The earliest instant ≥ ``at`` inside the window."""
        day = local_date(at, self.zone_name)
        for offset in range(_SEARCH_DAYS):
            bounds = self.bounds(day + timedelta(days=offset))
            if bounds is not None and at < bounds[1]:
                return max(at, bounds[0])
        raise AssertionError("unreachable: an allowed weekday recurs every week")

    def length(self) -> timedelta:
        """Nominal length of one day's window (wall-clock hours)."""
        start = datetime.combine(date(2001, 1, 1), self.start)
        end_day = date(2001, 1, 2) if self.end == time(0) else date(2001, 1, 1)
        return datetime.combine(end_day, self.end) - start
