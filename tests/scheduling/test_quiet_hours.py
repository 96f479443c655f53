"""SMS legal hours by example: one zone, several, the sender's window on top, DST days."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from outbound.domain.schedule import QuietHoursSpec
from outbound.scheduling.quiet_hours import IntersectedWindow, legal_window
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.windows import EVERY_DAY, MONDAY_TO_FRIDAY, SendWindow

NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"
LOS_ANGELES = "America/Los_Angeles"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_one_zone_is_that_zone_from_8_to_21_every_day() -> None:
    assert legal_window([LOS_ANGELES]) == SendWindow(LOS_ANGELES, EVERY_DAY, time(8), time(21))
    assert legal_window([LOS_ANGELES], time(9), time(20)) == SendWindow(
        LOS_ANGELES, EVERY_DAY, time(9), time(20)
    )


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        # Los Angeles is 3 hours behind New York all year: 08:00 there is 11:00 here.
        ([LOS_ANGELES, NEW_YORK], (NEW_YORK, time(11), time(21))),
        ([NEW_YORK, CHICAGO], (NEW_YORK, time(9), time(21))),
        # Phoenix keeps standard time: an hour behind Denver in summer, level in winter.
        (["America/Phoenix", "America/Denver"], ("America/Denver", time(9), time(21))),
        # New York changes its clocks two or three weeks before London, twice a year.
        (["Europe/London", NEW_YORK], ("Europe/London", time(13), time(21))),
        # Chatham is 2:15 ahead of Lord Howe, 2:45 in their summer and 3:15 in the week
        # between Chatham's change (late September) and Lord Howe's (early October).
        (["Australia/Lord_Howe", "Pacific/Chatham"], ("Pacific/Chatham", time(11, 15), time(21))),
        # Los Angeles' evening is Kolkata's next morning.
        ([LOS_ANGELES, "Asia/Kolkata"], ("Asia/Kolkata", time(8), time(9, 30))),
    ],
)
def test_several_zones_share_the_hours_legal_in_all_of_them(
    zones: list[str], expected: tuple[str, time, time]
) -> None:
    window = legal_window(zones)

    assert (window.zone_name, window.start, window.end) == expected
    assert window.weekdays == EVERY_DAY


def test_a_workspace_narrowing_narrows_the_shared_hours_too() -> None:
    window = legal_window([LOS_ANGELES, NEW_YORK], time(9), time(20))

    assert (window.zone_name, window.start, window.end) == (NEW_YORK, time(12), time(20))


def test_zones_without_common_legal_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="no hours are legal"):
        legal_window([LOS_ANGELES, "Asia/Kolkata"], time(9), time(20))


def test_no_zone_or_no_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="sender's zone"):
        legal_window([])
    with pytest.raises(ValueError, match="start before"):
        legal_window([NEW_YORK], time(21), time(8))


def test_a_prospect_in_los_angeles_gets_no_text_before_11_new_york_time() -> None:
    sender = SendWindow(NEW_YORK, MONDAY_TO_FRIDAY, time(9), time(17))
    sms = IntersectedWindow(sender, legal_window([LOS_ANGELES]))
    calendar = MailboxCalendar.of(MailboxLimits(NEW_YORK, 50, timedelta(minutes=5), sender), [])

    # Tue 24 Nov 2026 08:00 New York → 11:00 New York, 08:00 in Los Angeles
    assert sms.next_opening(utc(2026, 11, 24, 13, 0)) == utc(2026, 11, 24, 16, 0)
    assert calendar.reserve(utc(2026, 11, 24, 13, 0), sms) == utc(2026, 11, 24, 16, 0)
    # … and the sender's 17:00 close still holds (14:00 there)
    assert sms.next_opening(utc(2026, 11, 24, 22, 0)) == utc(2026, 11, 25, 16, 0)


def test_a_slot_pushed_past_21_00_moves_to_the_next_morning() -> None:
    every_evening = SendWindow(CHICAGO, EVERY_DAY, time(7), time(22))
    weekday_evenings = SendWindow(CHICAGO, MONDAY_TO_FRIDAY, time(9), time(22))
    legal = legal_window([CHICAGO])
    friday_20_30 = utc(2026, 11, 28, 2, 30)  # Fri 27 Nov 20:30 in Chicago (UTC-6)

    for sender, expected in [
        (every_evening, utc(2026, 11, 28, 14, 0)),  # Saturday 08:00: the legal opening
        (weekday_evenings, utc(2026, 11, 30, 15, 0)),  # Monday 09:00: the sender's opening
    ]:
        limits = MailboxLimits(CHICAGO, 50, timedelta(minutes=40), sender)
        calendar = MailboxCalendar.of(limits, [friday_20_30])

        # 21:10, 40 minutes after the text sent at 20:30, is past the legal hours
        assert calendar.reserve(friday_20_30, IntersectedWindow(sender, legal)) == expected


def test_shared_hours_hold_on_the_days_the_clocks_change() -> None:
    coasts = legal_window([LOS_ANGELES, NEW_YORK])  # 11:00–21:00 New York
    # Sat 13 Mar 2027 (EST, PST) and Sun 14 Mar 2027, after both springs forward (EDT, PDT):
    # 11:00 in New York, 08:00 in Los Angeles, each day
    assert coasts.next_opening(utc(2027, 3, 13, 5)) == utc(2027, 3, 13, 16)
    assert coasts.next_opening(utc(2027, 3, 14, 5)) == utc(2027, 3, 14, 15)

    atlantic = legal_window(["Europe/London", NEW_YORK])  # 13:00–21:00 London
    # Between New York's change (14 Mar) and London's (28 Mar) the gap is 4 hours, not 5:
    # 13:00 in London is then 09:00 in New York, still legal, and 21:00 is 17:00.
    assert atlantic.next_opening(utc(2027, 3, 20, 0)) == utc(2027, 3, 20, 13)
    assert not atlantic.contains(utc(2027, 3, 20, 21))

    lord_howe = legal_window(["Australia/Lord_Howe"])
    # Lord Howe moves its clocks half an hour, at 02:00 on Sun 4 Oct 2026 (+10:30 → +11):
    assert lord_howe.next_opening(utc(2026, 10, 2, 12)) == utc(2026, 10, 2, 21, 30)
    assert lord_howe.next_opening(utc(2026, 10, 3, 12)) == utc(2026, 10, 3, 21, 0)


def test_the_intersection_answers_what_the_allocator_asks() -> None:
    sender = SendWindow(NEW_YORK, MONDAY_TO_FRIDAY, time(9), time(17))
    weekends = SendWindow(NEW_YORK, frozenset({4, 5, 6}), time(8), time(21))

    # in one zone the days of both count; across zones only the first window's can
    assert IntersectedWindow(sender, weekends).weekdays == frozenset({4})
    assert IntersectedWindow(sender, legal_window([LOS_ANGELES])).weekdays == MONDAY_TO_FRIDAY
    assert IntersectedWindow(sender, legal_window([LOS_ANGELES])).zone_name == NEW_YORK
    # hashable: the allocator keys its caches by the window
    assert {IntersectedWindow(sender, weekends): 1}[IntersectedWindow(sender, weekends)] == 1


def test_windows_that_never_share_an_instant_are_reported() -> None:
    small_hours = SendWindow("UTC", EVERY_DAY, time(0), time(2))  # 05:30–07:30 in Kolkata
    never = IntersectedWindow(small_hours, legal_window(["Asia/Kolkata"]))

    with pytest.raises(ValueError, match="never overlap"):
        never.next_opening(utc(2026, 6, 1))


def test_the_legal_hours_travel_as_a_payload() -> None:
    window = legal_window(["Australia/Lord_Howe", "Pacific/Chatham"])
    spec = QuietHoursSpec.of(window)

    assert (spec.zone_name, spec.start, spec.end) == ("Pacific/Chatham", "11:15", "21:00")
    assert QuietHoursSpec.model_validate_json(spec.model_dump_json()).to_window() == window
    until_midnight = SendWindow("UTC", EVERY_DAY, time(8), time(0))
    assert QuietHoursSpec.of(until_midnight).end == "24:00"
    assert QuietHoursSpec.of(until_midnight).to_window() == until_midnight
    with pytest.raises(ValueError, match="every day"):
        QuietHoursSpec.of(SendWindow(NEW_YORK, MONDAY_TO_FRIDAY))
