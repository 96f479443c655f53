"""Properties of mailbox slots over random settings and random ready times."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.windows import SendWindow, local_date
from tests.support.walking_calendar import WalkingCalendar

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
]
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)  # spans both DST changes of the northern spring


@st.composite
def mailbox_limits(draw: st.DrawFn) -> MailboxLimits:
    zone_name = draw(st.sampled_from(ZONES))
    weekdays = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    start_hour = draw(st.integers(0, 22))
    end_hour = draw(st.integers(start_hour + 1, 23))
    window = SendWindow(
        zone_name, weekdays, time(start_hour), time(end_hour, draw(st.sampled_from([0, 30, 59])))
    )
    return MailboxLimits(
        zone_name=zone_name,
        daily_limit=draw(st.integers(1, 80)),
        min_gap=timedelta(minutes=draw(st.integers(0, 90))),
        window=window,
    )


ready_offsets = st.lists(st.integers(0, 60 * 24 * 240), min_size=1, max_size=120)


def allocate(
    limits: MailboxLimits, offsets: list[int], existing: list[int]
) -> tuple[MailboxCalendar, list[datetime]]:
    calendar = MailboxCalendar.of(limits, [])
    for minutes in existing:  # slots taken earlier, e.g. by another campaign
        calendar.reserve(EPOCH + timedelta(minutes=minutes))
    ready = sorted(EPOCH + timedelta(minutes=m) for m in offsets)
    return calendar, [calendar.reserve(at) for at in ready]


@settings(max_examples=150, deadline=None)
@given(mailbox_limits(), ready_offsets, st.lists(st.integers(0, 60 * 24 * 30), max_size=40))
def test_slots_respect_window_gap_limit_and_readiness(
    limits: MailboxLimits, offsets: list[int], existing: list[int]
) -> None:
    calendar, slots = allocate(limits, offsets, existing)
    ready = sorted(EPOCH + timedelta(minutes=m) for m in offsets)
    everything = sorted(calendar.taken)

    # every request gets a slot, never before it is due
    assert len(slots) == len(ready)
    assert all(slot >= due for slot, due in zip(slots, ready, strict=True))
    # no slot outside the window
    assert all(limits.window.contains(slot) for slot in everything)
    # no two slots of the mailbox closer than the gap (nor the spreading distance)
    gaps = [b - a for a, b in itertools.pairwise(everything)]
    assert all(gap >= limits.min_gap for gap in gaps)
    assert all(gap >= limits.spacing for gap in gaps)
    # no mailbox calendar day over the limit
    per_day = Counter(local_date(slot, limits.zone_name) for slot in everything)
    assert max(per_day.values()) <= limits.daily_limit
    # served in readiness order
    assert slots == sorted(slots)


def test_requests_that_do_not_fit_today_move_to_the_next_day_with_room() -> None:
    limits = MailboxLimits(
        "Europe/Berlin",
        50,
        timedelta(minutes=5),
        SendWindow("Europe/Berlin", frozenset(range(5)), time(9), time(17)),
    )
    thursday_morning = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    calendar = MailboxCalendar.of(limits, [])

    slots = [calendar.reserve(thursday_morning) for _ in range(120)]

    per_day = Counter(local_date(slot, "Europe/Berlin").isoformat() for slot in slots)
    assert per_day == {
        "2026-11-26": 50,
        "2026-11-27": 50,
        "2026-11-30": 20,
    }  # Thu, Fri, then Monday
    first_day = sorted(s for s in slots if local_date(s, "Europe/Berlin").day == 26)
    assert first_day[0] == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    assert first_day[-1] <= datetime(2026, 11, 26, 16, 0, tzinfo=UTC)  # spread up to 17:00 Berlin
    assert first_day[-1] >= datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # not bunched at the start


def test_a_window_that_closes_before_the_next_slot_moves_it_to_the_next_allowed_day() -> None:
    half_hour = SendWindow("Europe/Berlin", frozenset({0, 2}), time(9), time(9, 30))  # Mon, Wed
    limits = MailboxLimits("Europe/Berlin", 10, timedelta(minutes=20), half_hour)
    calendar = MailboxCalendar.of(limits, [])
    monday = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

    slots = [calendar.reserve(monday) for _ in range(3)]

    assert slots == [
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC),  # Mon 09:00
        datetime(2026, 11, 23, 8, 20, tzinfo=UTC),  # Mon 09:20; 09:40 is past the close
        datetime(2026, 11, 25, 8, 0, tzinfo=UTC),  # Wed 09:00 (Tuesday is not allowed)
    ]


@settings(max_examples=200, deadline=None)
@given(
    mailbox_limits(),
    st.lists(
        st.tuples(st.integers(0, 60 * 24 * 60), st.sampled_from([None, *ZONES])),
        min_size=1,
        max_size=150,
    ),
    st.lists(st.integers(0, 60 * 24 * 30), max_size=60),
)
def test_the_fast_search_finds_exactly_the_slots_of_the_day_by_day_walk(
    limits: MailboxLimits,
    requests: list[tuple[int, str | None]],
    existing: list[int],
) -> None:
    """Same slots, in the same order, for requests in any order, in the mailbox's window or
    in a prospect's own time zone, around slots taken earlier (issue 23's preview)."""
    taken = [EPOCH + timedelta(minutes=m) for m in existing]
    fast, walking = MailboxCalendar.of(limits, taken), WalkingCalendar.of(limits, taken)
    for minutes, zone_name in requests:
        window = limits.window
        if zone_name is not None:
            window = SendWindow(zone_name, window.weekdays, window.start, window.end)
        at = EPOCH + timedelta(minutes=minutes)
        assert fast.reserve(at, window) == walking.reserve(at, window)


def test_a_slot_fits_exactly_between_two_taken_slots_twice_the_spacing_apart() -> None:
    window = SendWindow("UTC", frozenset(range(7)), time(0), time(0))
    limits = MailboxLimits("UTC", 1000, timedelta(minutes=10), window)
    monday_9 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    taken = [monday_9, monday_9 + timedelta(minutes=20)]

    for calendar in (MailboxCalendar.of(limits, taken), WalkingCalendar.of(limits, taken)):
        assert calendar.reserve(monday_9) == monday_9 + timedelta(minutes=10)
        assert calendar.reserve(monday_9) == monday_9 + timedelta(minutes=30)
