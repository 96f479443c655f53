"""A new mailbox's warm-up ramp: a small daily limit that grows each day up to the full one.

Providers trust a sender by its history; a new mailbox that sends its full
limit on day one looks like a spammer's. A ramp starts at ``start`` messages
on ``started_on`` (a mailbox-local day) and adds ``increment`` each day after,
until the mailbox's own daily limit caps it. The slot allocator and the
schedule preview both ask ``limit_on`` for a day's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class WarmUp:
    """A ramp: ``start`` on ``started_on``, ``increment`` more each day after."""

    start: int
    increment: int
    started_on: date

    def __post_init__(self) -> None:
        if self.start < 1:
            raise ValueError("a ramp starts at 1 message a day or more")
        if self.increment < 0:
            raise ValueError("a ramp's increment cannot be negative")

    def limit_on(self, day: date, daily_limit: int) -> int:
        """The day's limit: the ramp's figure, never above ``daily_limit``.

        Days before the ramp began (a reservation made before it was set) count
        as its first day.
        """
        days_in = max(0, (day - self.started_on).days)
        return min(daily_limit, self.start + self.increment * days_in)

    def full_on(self, daily_limit: int) -> date | None:
        """The first day the ramp reaches ``daily_limit`` (None: it never grows there)."""
        if self.start >= daily_limit:
            return self.started_on
        if self.increment == 0:
            return None
        steps = -(-(daily_limit - self.start) // self.increment)
        return date.fromordinal(self.started_on.toordinal() + steps)
