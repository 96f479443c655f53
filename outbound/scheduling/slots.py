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
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from outbound.scheduling.windows import SendWindow, local_date, local_datetime

_MAX_STEPS = 100_000


@dataclass(frozen=True)
class MailboxLimits:
    """A mailbox's sending limits, shared by every campaign that uses it."""

    zone_name: str
    daily_limit: int
    min_gap: timedelta
    window: SendWindow

    def __post_init__(self) -> None:
        if self.daily_limit < 1:
            raise ValueError("daily_limit must be at least 1")
        if self.min_gap < timedelta(0):
            raise ValueError("min_gap cannot be negative")

    @property
    def spacing(self) -> timedelta:
        """Distance kept between two slots: the gap, or wider to spread a day's limit."""
        spread = self.window.length() / self.daily_limit
        return max(self.min_gap, spread)


@dataclass
class MailboxCalendar:
    """A mailbox's taken slots, for allocation (the store loads it; tests build it)."""

    limits: MailboxLimits
    taken: list[datetime] = field(default_factory=list)
    _per_day: Counter[date] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.taken = sorted(self.taken)
        if not self._per_day:  # counted here unless the caller knows the counts
            self._per_day = Counter(local_date(t, self.limits.zone_name) for t in self.taken)

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

    def earliest_slot(self, not_before: datetime, window: SendWindow | None = None) -> datetime:
        """The slot a request due at ``not_before`` gets (without taking it)."""
        window = window or self.limits.window
        spacing = self.limits.spacing
        candidate = window.next_opening(not_before)
        for _ in range(_MAX_STEPS):
            day = local_date(candidate, self.limits.zone_name)
            if self._per_day[day] >= self.limits.daily_limit:
                candidate = window.next_opening(self._start_of(day + timedelta(days=1)))
                continue
            # Walk past a run of taken slots with bisects alone (no time-zone math) …
            moved = False
            while (clash := self._clash(candidate, spacing)) is not None:
                candidate, moved = clash + spacing, True
            if not moved:
                return candidate
            # … then re-check the window and the day at the new place.
            candidate = window.next_opening(candidate)
        raise RuntimeError("no slot found; the mailbox calendar is inconsistent")

    def take(self, slot: datetime) -> None:
        """Record ``slot`` as taken."""
        insort(self.taken, slot)
        self._per_day[local_date(slot, self.limits.zone_name)] += 1

    def know(self, slots: Iterable[datetime]) -> None:
        """Add slots already counted in ``day_counts`` (their times were not loaded)."""
        for slot in slots:
            insort(self.taken, slot)

    def reserve(self, not_before: datetime, window: SendWindow | None = None) -> datetime:
        """Find and take the earliest slot."""
        slot = self.earliest_slot(not_before, window)
        self.take(slot)
        return slot

    def _clash(self, candidate: datetime, spacing: timedelta) -> datetime | None:
        """The latest taken slot closer than ``spacing`` to ``candidate``, if any."""
        index = bisect_left(self.taken, candidate + spacing)
        if index > 0 and self.taken[index - 1] > candidate - spacing:
            return self.taken[index - 1]
        return None

    def _start_of(self, day: date) -> datetime:
        return local_datetime(day, time(0), self.limits.zone_name)
