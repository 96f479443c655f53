"""Per-recipient-domain caps: at most N messages an hour, and M a day, from one mailbox
to one recipient domain.

A burst of messages to one company (or to one big provider) from one sender is
what filters notice; the caps spread them. Hours are clock hours in UTC (an
hour is an hour everywhere, and DST never makes one twice as long); days are
the mailbox's own calendar days, as its daily limit counts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from outbound.scheduling.windows import local_date, local_datetime

HOUR = timedelta(hours=1)


def hour_of(at: datetime) -> datetime:
    """The UTC clock hour ``at`` falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Cap:
    """Most messages per clock hour and per mailbox-local day."""

    hourly: int
    daily: int


@dataclass
class DomainLoad:
    """One mailbox's slots to one recipient domain, and the cap that holds for them."""

    cap: Cap
    zone_name: str
    per_hour: Counter[datetime] = field(default_factory=Counter)
    per_day: Counter[date] = field(default_factory=Counter)

    @classmethod
    def of(cls, cap: Cap, zone_name: str, taken: Iterable[datetime]) -> DomainLoad:
        """The load of the slots ``taken`` (held and used, to this domain)."""
        load = cls(cap, zone_name)
        for slot in taken:
            load.take(slot)
        return load

    def take(self, slot: datetime) -> None:
        """Count ``slot``."""
        self.per_hour[hour_of(slot)] += 1
        self.per_day[local_date(slot, self.zone_name)] += 1

    def next_room(self, at: datetime) -> datetime:
        """``at`` if one more message fits its hour and its day, else the start of the
        next hour or day that may have room (the caller re-checks it)."""
        day = local_date(at, self.zone_name)
        if self.per_day[day] >= self.cap.daily:
            return local_datetime(day + timedelta(days=1), time(0), self.zone_name)
        hour = hour_of(at)
        if self.per_hour[hour] >= self.cap.hourly:
            return hour + HOUR
        return at
