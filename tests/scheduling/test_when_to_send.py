"""Each branch of seed 001's when-to-send table."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from outbound.scheduling.when_to_send import FollowUpRule, WhenToSend, first_send, follow_up
from outbound.scheduling.windows import zone

ZONE = "America/Chicago"  # UTC−6 in November
GRACE = timedelta(minutes=20)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 wall time in Chicago, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=zone(ZONE)).astimezone(UTC)


def clock(at: datetime) -> tuple[int, int, int]:
    wall = at.astimezone(zone(ZONE))
    return wall.day, wall.hour, wall.minute


def test_when_started_sends_after_the_grace_delay() -> None:
    first = first_send(local(24, 13, 5), GRACE, WhenToSend.WHEN_STARTED, ZONE, jitter=0.9)

    assert clock(first.due) == (24, 13, 25)
    assert first.follow_up is FollowUpRule.SAME_TIME_OF_DAY


@pytest.mark.parametrize(("jitter", "minute"), [(0.0, 0), (0.5, 10), (0.999, 19)])
def test_specific_time_sends_0_to_20_minutes_after_the_chosen_time(
    jitter: float, minute: int
) -> None:
    first = first_send(local(24, 8), GRACE, WhenToSend.SPECIFIC_TIME, ZONE, jitter, time(11))

    assert clock(first.due) == (24, 11, minute)


def test_specific_time_already_past_today_means_tomorrow() -> None:
    first = first_send(local(24, 15), GRACE, WhenToSend.SPECIFIC_TIME, ZONE, 0.0, time(11))

    assert clock(first.due) == (25, 11, 0)


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ((24, 19, 0), (25, 7, 10)),  # evening → next morning 07:00–07:20
        ((24, 23, 30), (25, 7, 10)),
        ((25, 2, 0), (25, 7, 10)),  # small hours → the same morning
        ((25, 5, 59), (25, 7, 10)),
    ],
)
def test_best_time_started_19_to_06_sends_at_7_to_7_20(
    started: tuple[int, int, int], expected: tuple[int, int, int]
) -> None:
    first = first_send(local(*started), GRACE, WhenToSend.BEST_TIME, ZONE, jitter=0.5)

    assert clock(first.due) == expected
    assert first.follow_up is FollowUpRule.SAME_TIME_OF_DAY


def test_best_time_started_06_to_10_sends_after_the_grace_delay() -> None:
    first = first_send(local(24, 6, 0), GRACE, WhenToSend.BEST_TIME, ZONE, jitter=0.5)

    assert clock(first.due) == (24, 6, 20)
    assert first.follow_up is FollowUpRule.SAME_TIME_OF_DAY


@pytest.mark.parametrize(
    ("started", "expected"),
    [((24, 10, 0), (24, 16, 0)), ((24, 15, 50), (24, 16, 10)), ((24, 18, 59), (24, 19, 19))],
)
def test_best_time_started_10_to_19_sends_at_16_or_after_grace_whichever_is_later(
    started: tuple[int, int, int], expected: tuple[int, int, int]
) -> None:
    first = first_send(local(*started), GRACE, WhenToSend.BEST_TIME, ZONE, jitter=0.5)

    assert clock(first.due) == expected
    assert first.follow_up is FollowUpRule.MORNING_07_TO_09


@pytest.mark.parametrize(
    ("jitter", "expected"), [(0.0, (27, 13, 5)), (0.5, (27, 13, 25)), (0.999, (27, 13, 44))]
)
def test_follow_ups_keep_the_first_send_time_of_day_plus_or_minus_20_minutes(
    jitter: float, expected: tuple[int, int, int]
) -> None:
    first_at = local(24, 13, 25)
    previous = local(24, 13, 31)  # the previous send went out a little late

    due = follow_up(
        previous, first_at, timedelta(days=3), FollowUpRule.SAME_TIME_OF_DAY, ZONE, jitter
    )

    assert clock(due) == expected


@pytest.mark.parametrize(
    ("jitter", "expected"), [(0.0, (26, 7, 0)), (0.5, (26, 8, 0)), (0.999, (26, 8, 59))]
)
def test_best_time_afternoon_follow_ups_go_between_7_and_9(
    jitter: float, expected: tuple[int, int, int]
) -> None:
    due = follow_up(
        local(24, 16, 5),
        local(24, 16, 5),
        timedelta(days=2),
        FollowUpRule.MORNING_07_TO_09,
        ZONE,
        jitter,
    )

    assert clock(due) == expected


def test_follow_up_days_are_local_calendar_days_across_dst() -> None:
    # Chicago falls back on Sun 1 Nov 2026: 2 days from Fri 30 Oct 09:00 CDT is Sun 09:00 CST,
    # 49 hours later in UTC, not 48.
    sent = datetime(2026, 10, 30, 9, 0, tzinfo=zone(ZONE)).astimezone(UTC)

    due = follow_up(sent, sent, timedelta(days=2), FollowUpRule.SAME_TIME_OF_DAY, ZONE, jitter=0.5)

    assert due.astimezone(zone(ZONE)).hour == 9
    assert due - sent == timedelta(hours=49)


def test_sub_day_delays_are_added_as_is() -> None:
    sent = local(24, 13, 0)

    assert follow_up(
        sent, sent, timedelta(minutes=5), FollowUpRule.SAME_TIME_OF_DAY, ZONE, 0.7
    ) == sent + timedelta(minutes=5)


def test_specific_time_needs_a_time() -> None:
    with pytest.raises(ValueError, match="needs a time"):
        first_send(local(24, 8), GRACE, WhenToSend.SPECIFIC_TIME, ZONE, 0.0)


@pytest.mark.parametrize(
    ("first_at", "previous", "nearest", "expected"),
    [
        # First message at 23:55; the follow-up went out at 00:05, just past midnight.
        ((24, 23, 55), (26, 0, 5), True, (28, 23, 55)),
        # First message at 00:05; the follow-up went out at 23:55 the evening before.
        ((24, 0, 5), (25, 23, 55), True, (29, 0, 5)),
        # Workflows that counted from the previous send's own date keep that count.
        ((24, 23, 55), (26, 0, 5), False, (29, 23, 55)),
    ],
    ids=["jittered-past-midnight", "jittered-before-midnight", "old-count-of-running-workflows"],
)
def test_a_follow_up_jittered_across_midnight_keeps_the_next_step_on_its_day(
    first_at: tuple[int, int, int],
    previous: tuple[int, int, int],
    nearest: bool,
    expected: tuple[int, int, int],
) -> None:
    due = follow_up(
        local(*previous),
        local(*first_at),
        timedelta(days=3),
        FollowUpRule.SAME_TIME_OF_DAY,
        ZONE,
        jitter=0.5,
        count_from_nearest_anchor=nearest,
    )

    assert clock(due) == expected
