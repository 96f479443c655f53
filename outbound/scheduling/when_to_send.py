"""When-to-send preferences, exactly as SeekOut's help page (seed 001) describes them.

* When started (default): first message after the grace delay; each follow-up
  at the first message's time of day, ±0–20 minutes, after its delay in days.
* Specific time: first message 0–20 minutes after the chosen time; follow-ups
  as above.
* Best time, by the local time the campaign was started:
  19:00–06:00 → first message 07:00–07:20, follow-ups as above;
  06:00–10:00 → after the grace delay, follow-ups as above;
  10:00–19:00 → 16:00 or after the grace delay, whichever is later; follow-ups
  at a random time between 07:00 and 09:00.

Randomness is an input (``jitter``, a fraction in [0, 1)), drawn by the
workflow with ``workflow.random()`` so replays draw the same value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from outbound.scheduling.windows import local_date, local_datetime, zone

JITTER = timedelta(minutes=20)


class WhenToSend(StrEnum):
    """The campaign's when-to-send preference."""

    WHEN_STARTED = "when_started"
    SPECIFIC_TIME = "specific_time"
    BEST_TIME = "best_time"


class FollowUpRule(StrEnum):
    """How follow-ups are timed, fixed by the preference (and Best time's band)."""

    SAME_TIME_OF_DAY = "same_time_of_day"
    MORNING_07_TO_09 = "morning_07_to_09"


@dataclass(frozen=True)
class FirstSend:
    """When step 1 is due, and how later steps will be timed."""

    due: datetime
    follow_up: FollowUpRule


def first_send(
    started_at: datetime,
    grace: timedelta,
    preference: WhenToSend,
    zone_name: str,
    jitter: float,
    specific_time: time | None = None,
) -> FirstSend:
    """When the first message is due (before send windows and mailbox limits apply)."""
    earliest = started_at + grace
    if preference is WhenToSend.WHEN_STARTED:
        return FirstSend(earliest, FollowUpRule.SAME_TIME_OF_DAY)
    if preference is WhenToSend.SPECIFIC_TIME:
        if specific_time is None:
            raise ValueError("the Specific time preference needs a time")
        chosen = _next_local(specific_time, earliest, zone_name)
        return FirstSend(chosen + JITTER * jitter, FollowUpRule.SAME_TIME_OF_DAY)
    started_clock = started_at.astimezone(zone(zone_name)).time()
    if started_clock >= time(19) or started_clock < time(6):
        morning = _next_local(time(7), started_at, zone_name)
        return FirstSend(max(morning + JITTER * jitter, earliest), FollowUpRule.SAME_TIME_OF_DAY)
    if started_clock < time(10):
        return FirstSend(earliest, FollowUpRule.SAME_TIME_OF_DAY)
    afternoon = local_datetime(local_date(started_at, zone_name), time(16), zone_name)
    return FirstSend(max(afternoon, earliest), FollowUpRule.MORNING_07_TO_09)


def follow_up(
    previous_send: datetime,
    first_send_at: datetime,
    delay: timedelta,
    rule: FollowUpRule,
    zone_name: str,
    jitter: float,
    *,
    count_from_nearest_anchor: bool = True,
) -> datetime:
    """When a follow-up is due: its delay after the previous send, at the rule's time of day.

    Whole-day delays land on the local calendar day ``delay.days`` after the
    previous send, at the first message's local time of day ±20 minutes (or at
    07:00–09:00 for Best time's afternoon band). A sub-day remainder (a delay
    in minutes) is simply added: such steps are for demos and tests.

    For the first message's time of day, the days count from the day of the
    occurrence of that time nearest the previous send, not from the previous
    send's own date: a first message at 23:55 whose follow-up was jittered to
    00:05 would otherwise push every later step a day late, and one at 00:05
    jittered to 23:55 would bring the next step a whole day early (minutes
    after the previous one for a one-day delay). ``count_from_nearest_anchor``
    False keeps the old count, for workflows that already ran with it.
    """
    if delay < timedelta(days=1):
        return previous_send + delay
    days = timedelta(days=delay.days)
    clock = first_send_at.astimezone(zone(zone_name)).time().replace(tzinfo=None)
    if rule is FollowUpRule.SAME_TIME_OF_DAY and count_from_nearest_anchor:
        day = _day_of_nearest(clock, previous_send, zone_name) + days
    else:
        day = local_date(previous_send, zone_name) + days
    if rule is FollowUpRule.MORNING_07_TO_09:
        return local_datetime(day, time(7), zone_name) + timedelta(hours=2) * jitter
    anchored = local_datetime(day, clock, zone_name) + JITTER * (2 * jitter - 1)
    return anchored + (delay - days)


def _day_of_nearest(clock: time, at: datetime, zone_name: str) -> date:
    """The local day whose wall time ``clock`` is nearest the instant ``at``."""
    own = local_date(at, zone_name)
    days = (own - timedelta(days=1), own, own + timedelta(days=1))
    return min(days, key=lambda day: abs(local_datetime(day, clock, zone_name) - at))


def _next_local(clock: time, not_before: datetime, zone_name: str) -> datetime:
    """The first occurrence of local wall time ``clock`` at or after ``not_before``."""
    day = local_date(not_before, zone_name)
    candidate = local_datetime(day, clock, zone_name)
    if candidate < not_before:
        candidate = local_datetime(day + timedelta(days=1), clock, zone_name)
    return candidate
