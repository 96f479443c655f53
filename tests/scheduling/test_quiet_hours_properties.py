"""Properties of SMS legal hours and of intersected windows, over zones with odd DST."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from outbound.scheduling.quiet_hours import IntersectedWindow, legal_window
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.windows import SendWindow, local_date, zone
from tests.scheduling.test_slot_properties import EPOCH, mailbox_limits
from tests.support.walking_calendar import WalkingCalendar

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",  # no DST
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "Pacific/Chatham",  # +12:45 / +13:45
]
LATEST = datetime(2036, 1, 1, tzinfo=UTC)
EARLIEST = datetime(2024, 1, 1, tzinfo=UTC)

zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True)
instants = st.integers(0, int((LATEST - EARLIEST).total_seconds()) // 60).map(
    lambda minutes: EARLIEST + timedelta(minutes=minutes)
)
legal_starts = st.sampled_from([time(8), time(8, 30), time(9), time(10)])
legal_ends = st.sampled_from([time(19), time(20), time(20, 30), time(21)])


def legal_in(at: datetime, zone_name: str, start: time, end: time) -> bool:
    """Whether the wall clock in ``zone_name`` reads [start, end) at ``at``."""
    clock = at.astimezone(zone(zone_name)).time()
    return start <= clock < end


def legal_or_none(zones: list[str], start: time, end: time) -> SendWindow | None:
    try:
        return legal_window(zones, start, end)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(zone_sets, legal_starts, legal_ends, instants, st.floats(0, 1, exclude_max=True))
def test_every_instant_of_the_legal_window_is_legal_in_every_zone(
    zones: list[str], start: time, end: time, at: datetime, fraction: float
) -> None:
    window = legal_or_none(zones, start, end)
    if window is None:  # e.g. Kolkata with Los Angeles, narrowed to 09:00–20:00
        assert len(zones) > 1
        event("no common legal hours")
        return
    assert window.zone_name in zones
    if len(zones) == 1:
        assert (window.start, window.end) == (start, end)
    bounds = window.bounds(local_date(at, window.zone_name))
    assert bounds is not None
    opening, closing = bounds
    that_day = [
        opening,
        closing - timedelta(microseconds=1),
        opening + (closing - opening) * fraction,
    ]
    inside = [t for t in that_day if opening <= t < closing] + [window.next_opening(at)]
    if window.contains(at):
        inside.append(at)
    for moment in inside:
        assert window.contains(moment)
        assert all(legal_in(moment, name, start, end) for name in zones), moment


def test_every_day_of_three_years_is_legal_for_every_pair_of_zones() -> None:
    """Day by day, not sampled: the weeks between two zones' clock changes included."""
    for zones in itertools.combinations(ZONES, 2):
        window = legal_or_none(list(zones), time(8), time(21))
        if window is None:
            continue
        first = local_date(EARLIEST, window.zone_name) + timedelta(days=365 * 2)
        for day in (first + timedelta(days=n) for n in range(366 * 3)):
            bounds = window.bounds(day)
            assert bounds is not None
            opening, closing = bounds
            last = closing - timedelta(microseconds=1)
            for moment in (opening, opening + (closing - opening) / 2, last):
                assert all(legal_in(moment, name, time(8), time(21)) for name in zones), (
                    zones,
                    day,
                )


@st.composite
def send_windows(draw: st.DrawFn) -> SendWindow:
    start = draw(st.integers(0, 22)) * 60 + draw(st.sampled_from([0, 15, 30, 45]))
    end = draw(st.integers(start + 1, 24 * 60))
    return SendWindow(
        draw(st.sampled_from(["UTC", *ZONES])),
        frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        time(start // 60, start % 60),
        time(0) if end == 24 * 60 else time(end // 60, end % 60),
    )


def openings(window: SendWindow, since: datetime, until: datetime) -> list[datetime]:
    """Where each day's interval of ``window`` starts, for the days around [since, until]."""
    first = local_date(since, window.zone_name) - timedelta(days=1)
    days = (local_date(until, window.zone_name) - first).days + 2
    starts = (window.bounds(first + timedelta(days=n)) for n in range(days))
    return [bounds[0] for bounds in starts if bounds is not None]


@settings(max_examples=300, deadline=None)
@given(send_windows(), send_windows(), instants)
def test_the_intersection_opens_at_the_earliest_instant_inside_both(
    first: SendWindow, second: SendWindow, at: datetime
) -> None:
    try:
        both = IntersectedWindow(first, second)
        opening = both.next_opening(at)
    except ValueError:
        event("the windows never overlap")
        # Two sets of day intervals that overlap have an interval start inside the other
        # set: none within the horizon, so they never overlap.
        until = at + timedelta(days=400)
        assert not any(second.contains(t) for t in openings(first, at, until) if t >= at)
        assert not any(first.contains(t) for t in openings(second, at, until) if t >= at)
        return

    assert opening >= at
    assert first.contains(opening) and second.contains(opening) and both.contains(opening)
    # The earliest instant ≥ at inside both is at itself or where one window's day starts.
    earlier = [at] + [
        t for w in (first, second) for t in openings(w, at, opening) if at <= t < opening
    ]
    assert not any(both.contains(t) for t in earlier if t < opening)
    # weekdays never leaves out a day on which the intersection opens
    assert local_date(opening, both.zone_name).weekday() in both.weekdays


def test_windows_without_a_common_weekday_are_refused() -> None:
    monday = SendWindow("UTC", frozenset({0}))
    tuesday = SendWindow("UTC", frozenset({1}))

    with pytest.raises(ValueError, match="never overlap"):
        IntersectedWindow(monday, tuesday)


@settings(max_examples=150, deadline=None)
@given(
    mailbox_limits(),
    st.sampled_from([None, *ZONES]),
    zone_sets,
    st.lists(st.integers(0, 60 * 24 * 120), min_size=1, max_size=60),
    st.lists(st.integers(0, 60 * 24 * 30), max_size=30),
)
def test_sms_slots_are_inside_both_windows_and_keep_the_mailbox_limits(
    limits: MailboxLimits,
    campaign_zone: str | None,
    zones: list[str],
    offsets: list[int],
    existing: list[int],
) -> None:
    legal = legal_or_none(zones, time(8), time(21))
    if legal is None:
        event("no common legal hours")
        return
    campaign = limits.window
    if campaign_zone is not None:  # the campaign follows the prospect's zone
        campaign = SendWindow(campaign_zone, campaign.weekdays, campaign.start, campaign.end)
    window = IntersectedWindow(campaign, legal)
    try:
        window.next_opening(EPOCH)
    except ValueError:  # e.g. a 02:00–03:00 UTC campaign window: no SMS can ever go
        event("the campaign window is never legal")
        return
    earlier = MailboxCalendar.of(limits, [])
    for minutes in existing:  # slots taken earlier by mail campaigns, within the limits
        earlier.reserve(EPOCH + timedelta(minutes=minutes))
    taken = earlier.taken
    fast, walking = MailboxCalendar.of(limits, taken), WalkingCalendar.of(limits, taken)
    ready = sorted(EPOCH + timedelta(minutes=m) for m in offsets)

    slots = [fast.reserve(at, window) for at in ready]

    assert slots == [walking.reserve(at, window) for at in ready]
    assert all(slot >= due for slot, due in zip(slots, ready, strict=True))
    assert all(campaign.contains(slot) and legal.contains(slot) for slot in slots)
    assert all(legal_in(slot, name, time(8), time(21)) for slot in slots for name in zones)
    everything = sorted(fast.taken)
    assert all(b - a >= limits.spacing for a, b in itertools.pairwise(everything))
    per_day = Counter(local_date(slot, limits.zone_name) for slot in everything)
    assert max(per_day.values()) <= limits.daily_limit
