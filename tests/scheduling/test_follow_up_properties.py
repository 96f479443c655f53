"""Properties of follow-up times over random zones, first-send times, delays and jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outbound.scheduling.when_to_send import JITTER, FollowUpRule, follow_up
from outbound.scheduling.windows import local_date, local_datetime, zone

ZONES = ["UTC", "America/Chicago", "Europe/Berlin", "Pacific/Auckland", "Australia/Lord_Howe"]
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)  # spans both DST changes of the northern spring
DST_SHIFT = timedelta(hours=1)
HALF_DAY = timedelta(hours=12)

zones = st.sampled_from(ZONES)
first_sends = st.integers(0, 60 * 24 * 200).map(lambda m: EPOCH + timedelta(minutes=m))
day_delays = st.integers(1, 14).map(lambda days: timedelta(days=days))
jitters = st.floats(0, 1, exclude_max=True)


@settings(max_examples=300, deadline=None)
@given(
    zones,
    first_sends,
    st.integers(0, 30),
    st.integers(-20 * 60, 20 * 60),
    day_delays,
    jitters,
)
def test_a_jittered_previous_send_never_moves_the_next_step_off_its_day(
    zone_name: str,
    first_at: datetime,
    days_later: int,
    jitter_seconds: int,
    delay: timedelta,
    jitter: float,
) -> None:
    """The previous step went out at the first send's time of day ±20 min: the next is
    exactly ``delay`` days after that time of day, ±20 min, whichever side of midnight."""
    wall = first_at.astimezone(zone(zone_name))
    day = local_date(first_at, zone_name) + timedelta(days=days_later)
    previous_slot = local_datetime(day, wall.time().replace(tzinfo=None), zone_name)
    previous = previous_slot + timedelta(seconds=jitter_seconds)

    due = follow_up(previous, first_at, delay, FollowUpRule.SAME_TIME_OF_DAY, zone_name, jitter)

    own_slot = local_datetime(day + delay, wall.time().replace(tzinfo=None), zone_name)
    assert abs(due - own_slot) <= JITTER


@settings(max_examples=300, deadline=None)
@given(zones, first_sends, st.integers(0, 60 * 24 * 30), day_delays, jitters)
def test_a_follow_up_comes_its_delay_after_the_previous_send_give_or_take_half_a_day(
    zone_name: str, first_at: datetime, minutes_later: int, delay: timedelta, jitter: float
) -> None:
    """However late windows and limits pushed the previous send, the next keeps to
    the first send's time of day within half a day of ``delay`` after it: never a
    whole day early or late."""
    previous = first_at + timedelta(minutes=minutes_later)

    due = follow_up(previous, first_at, delay, FollowUpRule.SAME_TIME_OF_DAY, zone_name, jitter)

    assert abs(due - previous - delay) <= HALF_DAY + JITTER + DST_SHIFT
