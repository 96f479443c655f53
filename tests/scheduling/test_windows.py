"""Send windows judged in local time, with the offset of the day in question."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from outbound.scheduling.windows import MONDAY_TO_FRIDAY, SendWindow, local_datetime, zone

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_due_time_before_opening_moves_to_the_opening() -> None:
    window = SendWindow(BERLIN, MONDAY_TO_FRIDAY, time(9), time(17))

    # Tue 24 Nov 2026 06:00 Berlin (UTC+1) → 09:00 Berlin the same day
    assert window.next_opening(utc(2026, 11, 24, 5, 0)) == utc(2026, 11, 24, 8, 0)


def test_a_due_time_after_closing_moves_to_the_next_allowed_day() -> None:
    window = SendWindow(BERLIN, MONDAY_TO_FRIDAY, time(9), time(17))

    # Fri 27 Nov 17:30 Berlin → Mon 30 Nov 09:00 Berlin (the weekend is not allowed)
    assert window.next_opening(utc(2026, 11, 27, 16, 30)) == utc(2026, 11, 30, 8, 0)


def test_a_disallowed_weekday_moves_to_the_next_allowed_one() -> None:
    tuesdays_and_thursdays = SendWindow(BERLIN, frozenset({1, 3}), time(9), time(17))

    # Wed 25 Nov 10:00 Berlin → Thu 26 Nov 09:00
    assert tuesdays_and_thursdays.next_opening(utc(2026, 11, 25, 9, 0)) == utc(2026, 11, 26, 8, 0)


def test_inside_the_window_nothing_moves() -> None:
    window = SendWindow(BERLIN, MONDAY_TO_FRIDAY, time(9), time(17))
    inside = utc(2026, 11, 24, 12, 34)

    assert window.next_opening(inside) == inside
    assert window.contains(inside)


def test_the_weekday_is_judged_in_local_time_far_from_utc() -> None:
    auckland = SendWindow("Pacific/Auckland", MONDAY_TO_FRIDAY, time(9), time(17))
    # Sunday 22 Nov 21:00 UTC is Monday 23 Nov 10:00 in Auckland (UTC+13): allowed.
    sunday_in_utc = utc(2026, 11, 22, 21, 0)

    assert sunday_in_utc.weekday() == 6
    assert auckland.contains(sunday_in_utc)
    assert auckland.next_opening(sunday_in_utc) == sunday_in_utc
    # Friday 27 Nov 21:00 UTC is Saturday 10:00 in Auckland: not allowed → Monday 09:00 NZDT.
    assert not auckland.contains(utc(2026, 11, 27, 21, 0))
    assert auckland.next_opening(utc(2026, 11, 27, 21, 0)) == utc(2026, 11, 29, 20, 0)


def test_spring_forward_uses_the_offset_of_that_day() -> None:
    window = SendWindow(NEW_YORK, frozenset(range(7)), time(9), time(17))
    # New York springs forward on Sunday 8 March 2026: EST (−5) before, EDT (−4) after.
    saturday = window.next_opening(utc(2026, 3, 7, 0, 0))
    sunday = window.next_opening(utc(2026, 3, 8, 0, 0))

    assert saturday == utc(2026, 3, 7, 14, 0)
    assert sunday == utc(2026, 3, 8, 13, 0)
    assert sunday.astimezone(zone(NEW_YORK)).hour == 9


def test_fall_back_uses_the_offset_of_that_day() -> None:
    window = SendWindow(NEW_YORK, frozenset(range(7)), time(9), time(17))
    # New York falls back on Sunday 1 November 2026: EDT (−4) before, EST (−5) after.

    assert window.next_opening(utc(2026, 10, 31, 0, 0)) == utc(2026, 10, 31, 13, 0)
    assert window.next_opening(utc(2026, 11, 1, 0, 0)) == utc(2026, 11, 1, 14, 0)


def test_a_wall_time_skipped_by_spring_forward_lands_after_the_jump() -> None:
    # 02:30 does not exist in New York on 8 March 2026; it means 03:30 EDT.
    at = local_datetime(datetime(2026, 3, 8).date(), time(2, 30), NEW_YORK)

    assert at == utc(2026, 3, 8, 7, 30)
    assert at.astimezone(zone(NEW_YORK)).time() == time(3, 30)


def test_a_window_whose_close_has_passed_moves_to_tomorrow() -> None:
    window = SendWindow(BERLIN, frozenset(range(7)), time(9), time(9, 30))

    assert window.next_opening(utc(2026, 11, 24, 8, 29)) == utc(2026, 11, 24, 8, 29)
    assert window.next_opening(utc(2026, 11, 24, 8, 30)) == utc(2026, 11, 25, 8, 0)


@pytest.mark.parametrize(
    ("weekdays", "start", "end"),
    [
        (frozenset(), time(9), time(17)),
        (frozenset({7}), time(9), time(17)),
        (MONDAY_TO_FRIDAY, time(17), time(9)),
    ],
)
def test_impossible_windows_are_refused(weekdays: frozenset[int], start: time, end: time) -> None:
    with pytest.raises(ValueError):
        SendWindow(BERLIN, weekdays, start, end)


def test_window_length_is_wall_clock_hours() -> None:
    assert SendWindow(BERLIN, MONDAY_TO_FRIDAY, time(9), time(17)).length() == timedelta(hours=8)


def test_an_end_of_midnight_means_the_whole_rest_of_the_day() -> None:
    all_day = SendWindow(BERLIN, frozenset(range(7)), time(0), time(0))

    assert all_day.length() == timedelta(hours=24)
    assert all_day.contains(utc(2026, 11, 24, 22, 59))  # 23:59 Berlin
    assert all_day.next_opening(utc(2026, 11, 24, 22, 59)) == utc(2026, 11, 24, 22, 59)
