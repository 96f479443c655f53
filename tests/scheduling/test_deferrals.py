"""When a provider's rate limit lifts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound.scheduling.deferrals import THROTTLE_PAUSE, rate_limit_lifts_at

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]


@pytest.mark.parametrize(
    ("now", "zone", "lifts_at"),
    [
        # 04:30 UTC is 23:30 the evening before in New York: the limit lifts half an hour later.
        (datetime(2026, 3, 3, 4, 30, tzinfo=UTC), "America/New_York", "2026-03-03T05:00:00+00:00"),
        (datetime(2026, 3, 3, 4, 30, tzinfo=UTC), "Europe/Berlin", "2026-03-03T23:00:00+00:00"),
        # The night clocks go forward in Berlin: midnight is still 23:00 UTC the day before.
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), "Europe/Berlin", "2026-03-28T23:00:00+00:00"),
        (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), "Europe/Berlin", "2026-03-29T22:00:00+00:00"),
    ],
)
def test_a_daily_quota_lifts_at_the_mailboxs_next_midnight(
    now: datetime, zone: str, lifts_at: str
) -> None:
    assert rate_limit_lifts_at(now, daily=True, zone_name=zone).isoformat() == lifts_at


def test_a_short_throttle_is_waited_out_for_an_hour() -> None:
    now = datetime(2026, 3, 3, 4, 30, tzinfo=UTC)
    assert rate_limit_lifts_at(now, daily=False, zone_name="Europe/Berlin") == now + THROTTLE_PAUSE


@given(
    now=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
)
def test_a_daily_quota_lifts_on_the_next_local_day_within_a_day(now: datetime, zone: str) -> None:
    lifts_at = rate_limit_lifts_at(now, daily=True, zone_name=zone)
    local_now, local_lift = now.astimezone(ZoneInfo(zone)), lifts_at.astimezone(ZoneInfo(zone))
    assert now < lifts_at <= now + timedelta(hours=25)
    assert local_lift.date() == local_now.date() + timedelta(days=1)
    assert (local_lift.hour, local_lift.minute) == (0, 0)
