"""Mailbox send slots: the daily limit, the minimum gap and spreading, across campaigns.

A slot is the instant one message may be sent from a mailbox. The allocator
gives a request the earliest instant, at or after the time the message is due,
that is inside the request's send window, on a mailbox calendar day (mailbox
time zone) with fewer than ``daily_limit`` slots, and at least ``spacing`` from
every other slot of the mailbox. ``spacing`` is the minimum gap, stretched so
that a full day's limit spreads over the mailbox's window instead of bunching
at its start. Requests are served in the order they arrive (the order
prospects become ready), and a request that does not fit today moves to the
next day with room: it is never refused for the limit.

The search is cheap however full the calendar: the taken slots are kept as
merged "blocked" intervals (each slot blocks ``spacing`` either side), so a
run of a hundred back-to-back slots is passed with one bisect; and the days a
window cannot use (full, or without an opening) are skipped with pointers
that only ever move forward (days never empty), so a request due in a month
of full days finds the first day with room at once. A schedule preview of
20,000 prospects makes 40,000 such requests in well under a second of this.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from outbound.scheduling.domain_caps import DomainLoad
from outbound.scheduling.warmup import WarmUp
from outbound.scheduling.windows import SendWindow, Window, local_date, local_datetime

_MAX_STEPS = 100_000


@dataclass(frozen=True)
class MailboxLimits:
    """A mailbox's sending limits, shared by every campaign that uses it."""

    zone_name: str
    daily_limit: int
    min_gap: timedelta
    window: SendWindow
    spread: bool = True
    """Stretch the gap so a full day's limit fills the window (mailboxes: mail that
    bunches up looks like bulk mail). An SMS sender goes at its rate instead: carriers
    limit a number's messages per second, and a campaign's texts go out in batches."""
    warmup: WarmUp | None = None
    """A new mailbox's ramp: each day's limit grows from a small start to ``daily_limit``."""

    def __post_init__(self) -> None:
        if self.daily_limit < 1:
            raise ValueError("daily_limit must be at least 1")
        if self.min_gap < timedelta(0):
            raise ValueError("min_gap cannot be negative")

    def limit_on(self, day: date) -> int:
        """The limit of mailbox-local ``day``: the ramp's figure while warming up."""
        if self.warmup is None:
            return self.daily_limit
        return self.warmup.limit_on(day, self.daily_limit)

    @property
    def spacing(self) -> timedelta:
        """Distance kept between two slots: the gap, or wider to spread a day's limit."""
        if not self.spread:
            return self.min_gap
        spread = self.window.length() / self.daily_limit
        return max(self.min_gap, spread)


@dataclass
class MailboxCalendar:
    """A mailbox's taken slots, for allocation (the store loads it; tests build it)."""

    limits: MailboxLimits
    taken: list[datetime] = field(default_factory=list)
    _per_day: Counter[date] = field(default_factory=Counter)
    _blocked: _Blocked = field(init=False)
    _skips: dict[Window, dict[date, date]] = field(init=False, default_factory=dict)
    _usable: dict[Window, dict[date, bool]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.taken = sorted(self.taken)
        if not self._per_day:  # counted here unless the caller knows the counts
            self._per_day = Counter(local_date(t, self.limits.zone_name) for t in self.taken)
        self._blocked = _Blocked(self.limits.spacing)
        for slot in self.taken:
            self._blocked.add(slot)

    @classmethod
    def of(
        cls,
        limits: MailboxLimits,
        taken: Iterable[datetime],
        day_counts: dict[date, int] | None = None,
    ) -> MailboxCalendar:
        """A calendar with ``taken`` slots.

        ``day_counts`` (slots per mailbox-local day) lets a caller pass the slot
        times of only the days that still have room: full days are skipped on
        their count alone.
        """
        return cls(limits, list(taken), Counter(day_counts or {}))

    def count_on(self, day: date) -> int:
        """Slots taken on mailbox-local ``day``."""
        return self._per_day[day]

    def earliest_slot(
        self,
        not_before: datetime,
        window: Window | None = None,
        domain: DomainLoad | None = None,
    ) -> datetime:
        """The slot a request due at ``not_before`` gets (without taking it).

        ``domain``: the mailbox's slots to the recipient's domain and its cap
        (``outbound.scheduling.domain_caps``); None means no cap.
        """
        window = window or self.limits.window
        candidate = window.next_opening(not_before)
        for _ in range(_MAX_STEPS):
            day = local_date(candidate, self.limits.zone_name)
            if self._per_day[day] >= self.limits.limit_on(day):
                room = self._first_usable_day(day + timedelta(days=1), window)
                candidate = window.next_opening(self._start_of(room))
                continue
            # Past the taken slots around the candidate (one bisect) …
            free = self._blocked.free_from(candidate)
            if free != candidate:
                # … then re-check the window and the day at the new place.
                candidate = window.next_opening(free)
                continue
            room_at = candidate if domain is None else domain.next_room(candidate)
            if room_at == candidate:
                return candidate
            candidate = window.next_opening(room_at)  # the domain's hour or day is full
        raise RuntimeError("no slot found; the mailbox calendar is inconsistent")

    def take(self, slot: datetime) -> None:
        """Record ``slot`` as taken."""
        insort(self.taken, slot)
        self._per_day[local_date(slot, self.limits.zone_name)] += 1
        self._blocked.add(slot)

    def know(self, slots: Iterable[datetime]) -> None:
        """Add slots already counted in ``day_counts`` (their times were not loaded)."""
        for slot in slots:
            insort(self.taken, slot)
            self._blocked.add(slot)

    def reserve(
        self,
        not_before: datetime,
        window: Window | None = None,
        domain: DomainLoad | None = None,
    ) -> datetime:
        """Find and take the earliest slot (counting it for ``domain`` too)."""
        slot = self.earliest_slot(not_before, window, domain)
        self.take(slot)
        if domain is not None:
            domain.take(slot)
        return slot

    def _first_usable_day(self, day: date, window: Window) -> date:
        """The first mailbox day from ``day`` on with room and an opening of ``window``.

        Days only fill up, so a day found unusable stays so: each keeps a pointer
        to a later day, and a search follows and shortens the pointers
        (union-find's path compression) instead of walking day by day again.
        """
        skips = self._skips.setdefault(window, {})
        passed = []
        while True:
            later = skips.get(day)
            if later is None:
                if self._per_day[day] < self.limits.limit_on(day) and self._opens_on(day, window):
                    break
                later = day + timedelta(days=1)
            passed.append(day)
            day = later
        for each in passed:
            skips[each] = day
        return day

    def _opens_on(self, day: date, window: Window) -> bool:
        """Whether ``window`` has an instant within mailbox-local ``day``."""
        known = self._usable.setdefault(window, {})
        if day not in known:
            opening = window.next_opening(self._start_of(day))
            known[day] = opening < self._start_of(day + timedelta(days=1))
        return known[day]

    def _start_of(self, day: date) -> datetime:
        return local_datetime(day, time(0), self.limits.zone_name)


class _Blocked:
    """The instants too close to a taken slot: the union of the open intervals
    (slot - spacing, slot + spacing), kept merged, sorted and disjoint."""

    def __init__(self, spacing: timedelta) -> None:
        self._spacing = spacing
        self._starts: list[datetime] = []
        self._ends: list[datetime] = []

    def add(self, slot: datetime) -> None:
        low, high = slot - self._spacing, slot + self._spacing
        if low == high:
            return
        first = bisect_right(self._ends, low)  # intervals ending at or before low stay apart
        after = bisect_left(self._starts, high)  # … as do those starting at or after high
        if first < after:
            low, high = min(low, self._starts[first]), max(high, self._ends[after - 1])
        self._starts[first:after] = [low]
        self._ends[first:after] = [high]

    def free_from(self, at: datetime) -> datetime:
        """``at`` if no slot is closer than the spacing, else the end of its blocked run:
        the first instant after ``at`` that is (a slot exactly ``spacing`` away is not
        too close)."""
        index = bisect_right(self._starts, at) - 1
        if index >= 0 and self._starts[index] < at < self._ends[index]:
            return self._ends[index]
        return at
