"""How users describe send windows and timing, and the window payload workflows carry."""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from outbound.domain.problems import FieldProblem
from outbound.scheduling.when_to_send import WhenToSend
from outbound.scheduling.windows import EVERY_DAY, SendWindow

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Weekday(StrEnum):
    """A day of the week, as users write it."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 = Monday, as ``date.weekday()``."""
        return _WEEKDAYS.index(self.value)


WORKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]


def _clock(value: str) -> str:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError("use HH:MM, e.g. 09:00 (24:00 for midnight at the end of the day)")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59) and value != "24:00":
        raise ValueError("not a time of day between 00:00 and 24:00")
    return f"{int(hours):02d}:{minutes}"


ClockTime = Annotated[str, AfterValidator(_clock)]


def parse_clock(value: str) -> time:
    """``"09:30"`` → 09:30; ``"24:00"`` → ``time(0)`` (the window's end-of-day marker)."""
    if value == "24:00":
        return time(0)
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _distinct_days(days: list[Weekday]) -> list[Weekday]:
    if len(set(days)) != len(days):
        raise ValueError("each day may appear once")
    return sorted(days, key=lambda d: d.number)


SendDays = Annotated[
    list[Weekday], Field(min_length=1, max_length=7), AfterValidator(_distinct_days)
]


class TimeZoneSource(StrEnum):
    """Whose clock the send window follows."""

    MAILBOX = "mailbox"
    PROSPECT = "prospect"


class WindowSpec(BaseModel):
    """A send window as a Temporal payload (SendWindow is the pure-code form)."""

    zone_name: str
    weekdays: list[int]
    start: time
    end: time

    def to_window(self) -> SendWindow:
        """The pure-code window."""
        return SendWindow(self.zone_name, frozenset(self.weekdays), self.start, self.end)


class ScheduleSpec(BaseModel):
    """Everything a workflow needs to time its steps (mailbox limits are read at reservation)."""

    window: WindowSpec
    when_to_send: WhenToSend = WhenToSend.WHEN_STARTED
    specific_time: time | None = None


def window_from(days: list[int], start: str, end: str, zone_name: str) -> WindowSpec:
    """Build a window payload from stored settings."""
    return WindowSpec(
        zone_name=zone_name, weekdays=days, start=parse_clock(start), end=parse_clock(end)
    )


def check_window(start: str, end: str) -> None:
    """Refuse a window that does not open before it closes."""
    if end != "24:00" and parse_clock(start) >= parse_clock(end):
        raise FieldProblem(
            "send_end", f"must be after send_start ({start}); use 24:00 for midnight"
        )


class QuietHoursSpec(BaseModel):
    """An SMS recipient's legal hours as a Temporal payload: [start, end) in ``zone_name``,
    every day (``legal_window``'s answer; the workflow intersects it with its send window)."""

    zone_name: str
    start: ClockTime
    end: ClockTime

    @classmethod
    def of(cls, window: SendWindow) -> QuietHoursSpec:
        """The payload of an every-day window of whole minutes (``legal_window`` makes such)."""
        if window.weekdays != EVERY_DAY:
            raise ValueError("legal hours apply every day of the week")
        if any(t.second or t.microsecond for t in (window.start, window.end)):
            raise ValueError("legal hours are whole minutes")
        end = "24:00" if window.end == time(0) else window.end.strftime("%H:%M")
        return cls(zone_name=window.zone_name, start=window.start.strftime("%H:%M"), end=end)

    def to_window(self) -> SendWindow:
        """The pure-code window."""
        return SendWindow(self.zone_name, EVERY_DAY, parse_clock(self.start), parse_clock(self.end))
