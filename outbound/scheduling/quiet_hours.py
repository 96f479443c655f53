"""SMS quiet hours: a text goes only inside the recipient's legal hours.

The rule (TCPA-style: the US rule is 08:00 to 21:00 at the called party's
location): an SMS is sent only between 08:00 and 21:00 in the recipient's
local time, whatever the campaign's own window allows. A
workspace may narrow the hours (09:00–20:00, say), never widen them. The legal
hours apply on top of the campaign's send window (in the sender's or the
prospect's zone): the slot allocator is given ``IntersectedWindow(send_window,
legal_window(zones))`` and finds the earliest slot inside both, unchanged.

A phone number tells its region, not always its zone: a US area code can span
two zones, a country several. ``legal_window`` takes every candidate zone and
answers one window, every day of the week, in the easternmost of them (the
largest mean UTC offset), narrowed until any instant inside it is within the
legal hours in every candidate zone on every day, DST included. The narrowing
is checked day by day against each zone's own legal hours, from 2020 to 2040:
each day on which some zone's offset changes (and two days either side) is
checked by itself, and each run of days between such changes by its first
day, since every other day of the run is the same check shifted by whole days.
After tzdata's last listed change a zone repeats its rule every year, so the
span covers later years too. Checking the days themselves, not the largest
offset difference over the year, keeps the hour in which New York has
changed its clocks and Los Angeles not yet (at night) from narrowing the
window by that hour for the whole year. The answer is cached per zone set.

The narrowing only ever opens the window later or closes it earlier, by the
first misfit it meets: when the common hours could be either of two pieces
of the day (a zone half a day west), it keeps one of them, not always the
longer.

No zone known at all: ``legal_window`` refuses an empty list rather than guess;
the caller passes the sender's zone then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from outbound.scheduling.windows import (
    EVERY_DAY,
    SendWindow,
    Window,
    local_date,
    zone,
)

LEGAL_START = time(8, 0)
LEGAL_END = time(21, 0)

_FIRST_DAY = date(2020, 1, 1)
_LAST_DAY = date(2040, 12, 31)
_MARGIN = 2  # days either side of an offset change that are checked one by one
_DAY_MINUTES = 24 * 60
_MINUTE = timedelta(minutes=1)
# Two windows that share no instant within a year and a month never will (their
# weekdays recur weekly and their zones' offsets yearly); the rounds bound the loop.
_HORIZON = timedelta(days=400)
_MAX_ROUNDS = 10_000


def legal_window(
    zones: Sequence[str], start: time = LEGAL_START, end: time = LEGAL_END
) -> SendWindow:
    """The instants legal in every zone of ``zones``: [start, end) local, every day.

    One zone: that zone's [start, end). Several: a window in the easternmost,
    narrowed to whole minutes so that it is legal in all of them (see the module
    docstring). ``end = time(0)`` means midnight at the end of the day.
    Raises ValueError for no zones (pass the sender's zone instead), for
    hours that do not open before they close, or when no instant is legal in
    all of the zones every day.
    """
    if not zones:
        raise ValueError("no recipient zone: pass the sender's zone instead")
    if start.second or start.microsecond or end.second or end.microsecond:
        raise ValueError("legal hours are whole minutes")
    if end != time(0) and start >= end:
        raise ValueError("the legal hours must start before they end (same day)")
    return _legal_window(tuple(sorted(set(zones))), start, end)


@lru_cache(maxsize=512)
def _legal_window(names: tuple[str, ...], start: time, end: time) -> SendWindow:
    """``legal_window`` for distinct, sorted zone names (cached: a zone set recurs)."""
    home = max(names, key=lambda name: (_mean_offset(name), name))
    if len(names) == 1:
        return SendWindow(home, EVERY_DAY, start, end)
    legal = [SendWindow(name, EVERY_DAY, start, end) for name in names]
    opens = start.hour * 60 + start.minute
    closes = _DAY_MINUTES if end == time(0) else end.hour * 60 + end.minute
    days = _days_to_check(names)
    narrowed = True
    while narrowed:  # until one pass over the days narrows nothing: then all of them fit
        narrowed = False
        for day in days:
            while (fit := _misfit(day, home, opens, closes, legal)) != (0, 0):
                opens, closes, narrowed = opens + fit[0], closes - fit[1], True
                if opens >= closes:
                    raise ValueError(f"no hours are legal every day in all of {', '.join(names)}")
    return SendWindow(home, EVERY_DAY, _clock(opens), _clock(closes))


def _misfit(
    day: date, home: str, opens: int, closes: int, legal: list[SendWindow]
) -> tuple[int, int]:
    """Minutes the window [opens, closes) of ``home`` on ``day`` must open later and
    close earlier to be legal in the first zone where it is not; (0, 0) if it fits.

    Each zone's legal hours are one interval per local day, so the window fits a
    zone when its opening is inside one and its closing no later than that one's.
    """
    # The bounds the answer's own ``contains`` will use that day.
    bounds = SendWindow(home, EVERY_DAY, _clock(opens), _clock(closes)).bounds(day)
    assert bounds is not None  # every day is allowed
    first, after = bounds
    if after <= first:
        return 0, 0  # empty this day (a clock change ate it): nothing to send then
    for window in legal:
        opening = window.next_opening(first)
        if opening > first:
            return _whole_minutes(opening - first), 0
        legal_bounds = window.bounds(local_date(first, window.zone_name))
        assert legal_bounds is not None
        if after > legal_bounds[1]:
            return 0, _whole_minutes(after - legal_bounds[1])
    return 0, 0


def _whole_minutes(span: timedelta) -> int:
    """``span`` in minutes, rounded up (narrowing by less could leave a sliver out)."""
    return -(-span // _MINUTE)


def _clock(minutes: int) -> time:
    """Minutes since midnight as a time of day (1440, the end of the day, as ``time(0)``)."""
    return time(0) if minutes == _DAY_MINUTES else time(minutes // 60, minutes % 60)


@lru_cache(maxsize=256)
def _mean_offset(name: str) -> timedelta:
    """The zone's UTC offset averaged over January and July (how far east it is)."""
    january = datetime(2026, 1, 15, 12, tzinfo=UTC).astimezone(zone(name)).utcoffset()
    july = datetime(2026, 7, 15, 12, tzinfo=UTC).astimezone(zone(name)).utcoffset()
    assert january is not None and july is not None
    return (january + july) / 2


@lru_cache(maxsize=256)
def _offset_changes(name: str) -> frozenset[date]:
    """The UTC days of the checked span in which the zone's offset changes."""
    changes = set()
    day = _FIRST_DAY - timedelta(days=_MARGIN + 1)
    previous = _offset_at(day, name)
    while day <= _LAST_DAY + timedelta(days=_MARGIN):
        following = _offset_at(day + timedelta(days=1), name)
        if following != previous:
            changes.add(day)
        day, previous = day + timedelta(days=1), following
    return frozenset(changes)


def _offset_at(day: date, name: str) -> timedelta | None:
    """The zone's offset at the UTC midnight starting ``day``."""
    return datetime.combine(day, time(0), tzinfo=UTC).astimezone(zone(name)).utcoffset()


def _days_to_check(names: tuple[str, ...]) -> list[date]:
    """Days near an offset change of any zone, and the first day of each run between.

    A day's check looks at instants from about a day before to two days after
    it (the window and the zones' legal hours around it), all within the day
    and ``_MARGIN`` days either side in UTC.
    """
    near = {
        changed + timedelta(days=shift)
        for name in names
        for changed in _offset_changes(name)
        for shift in range(-_MARGIN, _MARGIN + 1)
    }
    days, day, in_run = [], _FIRST_DAY, False
    while day <= _LAST_DAY:
        if day in near or not in_run:
            days.append(day)
        in_run = day not in near
        day += timedelta(days=1)
    return days


class NoCommonHours(ValueError):
    """Two windows share no instant (e.g. a sender's hours and a far-away recipient's legal
    hours): nothing can ever be sent inside both."""


@dataclass(frozen=True)
class IntersectedWindow:
    """The instants inside both windows, e.g. a campaign's send window and an SMS
    recipient's legal hours; the slot allocator takes it as it takes a ``SendWindow``.

    The allocator asks a request's window for its next opening (and uses it as
    a cache key); the store's allocation also reads ``zone_name`` and
    ``weekdays`` to skip the mailbox days the window never opens on. Both are
    answered conservatively (see ``weekdays``). There is no ``bounds`` or
    ``length``: across two zones a day's intersection can be two pieces, and
    nothing asks a request's window for either (the spacing of slots comes
    from the mailbox's own window).
    """

    first: Window
    second: Window

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise NoCommonHours("the two windows share no weekday: they never overlap")

    @property
    def zone_name(self) -> str:
        """The first window's zone: the one ``weekdays`` counts days in."""
        return self.first.zone_name

    @property
    def weekdays(self) -> frozenset[int]:
        """Every weekday (in ``zone_name``) on which the intersection may open.

        An instant inside both is inside the first window, so on one of its
        weekdays; in the same zone also on one of the second's. Days of a
        second window in another zone do not line up with the first's, so they
        remove nothing: the answer may name a day with no common instant (the
        allocator then looks at that day and finds nothing), never omit one
        that has some.
        """
        if self.second.zone_name == self.first.zone_name:
            return self.first.weekdays & self.second.weekdays
        return self.first.weekdays

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` is inside both windows."""
        return self.first.contains(at) and self.second.contains(at)

    def next_opening(self, at: datetime) -> datetime:
        """The earliest instant ≥ ``at`` inside both windows.

        Each window in turn moves the candidate to its own next opening: no
        instant passed is inside the window that passed it, so the first
        candidate both contain is the earliest. Raises ValueError when the
        windows share no instant within ``_HORIZON`` (they never will).
        """
        moment = at
        for _ in range(_MAX_ROUNDS):
            moment = self.first.next_opening(moment)
            if self.second.contains(moment):
                return moment
            moment = self.second.next_opening(moment)
            if self.first.contains(moment):
                return moment
            if moment - at > _HORIZON:
                break
        raise NoCommonHours("the two windows never overlap")
