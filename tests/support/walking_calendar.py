"""The mailbox calendar's search as it was before issue 23: one day, one slot at a time.

It walked past every full day with a window search and past every taken slot
near the candidate with a bisect each, so a request due behind a month of
full days, or behind a day of back-to-back slots, cost that month or that day.
Kept as the oracle the faster search must agree with (tests/scheduling) and as
the baseline of ``python -m bench.schedule_preview``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from datetime import datetime, time, timedelta

from outbound.scheduling.domain_caps import DomainLoad
from outbound.scheduling.slots import MailboxCalendar
from outbound.scheduling.windows import Window, local_date, local_datetime

_MAX_STEPS = 100_000


class WalkingCalendar(MailboxCalendar):
    """``MailboxCalendar`` with its former ``earliest_slot``."""

    def earliest_slot(
        self,
        not_before: datetime,
        window: Window | None = None,
        domain: DomainLoad | None = None,
    ) -> datetime:
        window = window or self.limits.window
        spacing = self.limits.spacing
        candidate = window.next_opening(not_before)
        for _ in range(_MAX_STEPS):
            day = local_date(candidate, self.limits.zone_name)
            if self.count_on(day) >= self.limits.limit_on(day):
                midnight = local_datetime(day + timedelta(days=1), time(0), self.limits.zone_name)
                candidate = window.next_opening(midnight)
                continue
            moved = False
            while (clash := self._clash(candidate, spacing)) is not None:
                candidate, moved = clash + spacing, True
            if not moved and domain is not None and domain.next_room(candidate) != candidate:
                candidate, moved = domain.next_room(candidate), True
            if not moved:
                return candidate
            candidate = window.next_opening(candidate)
        raise RuntimeError("no slot found; the mailbox calendar is inconsistent")

    def take(self, slot: datetime) -> None:
        insort(self.taken, slot)
        self._per_day[local_date(slot, self.limits.zone_name)] += 1

    def _clash(self, candidate: datetime, spacing: timedelta) -> datetime | None:
        index = bisect_left(self.taken, candidate + spacing)
        if index > 0 and self.taken[index - 1] > candidate - spacing:
            return self.taken[index - 1]
        return None
