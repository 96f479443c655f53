"""Texts wait for the recipient's legal hours, under time skipping, across zones and DST.

The stand-in slot reservation answers what the store's does for a free sender: the
first instant inside the campaign's window and the recipient's legal hours
(``IntersectedWindow.next_opening``, the pure code ``store.slots`` allocates with;
the store's own limits are tested in tests/store/test_sms_slots.py). The legal hours
are ``legal_window`` of the prospect's zones, as Start computes them; the workflow
then sleeps on a timer until that instant. What is checked is the time each text went.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from outbound.domain.schedule import QuietHoursSpec
from outbound.domain.sequence import StepPlan
from outbound.domain.sms_sequence import ReserveSmsSlotRequest, SmsRecipient
from outbound.domain.statuses import StepKind, StepStatus, ThreadMode
from outbound.scheduling.quiet_hours import IntersectedWindow, legal_window
from tests.workflows.test_sms_steps import SmsFakes, SmsHarness, sms_worker


class FreeSender(SmsFakes):
    """A sender with every slot free: the earliest legal instant is the slot."""

    @activity.defn(name="reserve_sms_slot")
    async def reserve_sms_slot(self, request: ReserveSmsSlotRequest) -> datetime:
        self.reservations.append(request)
        assert request.quiet_hours is not None
        window = IntersectedWindow(request.window.to_window(), request.quiet_hours.to_window())
        return window.next_opening(request.not_before)


@pytest.fixture
async def free_sender(time_skipping: WorkflowEnvironment) -> AsyncIterator[SmsHarness]:
    async with sms_worker(time_skipping, FreeSender(time_skipping.client)) as harness:
        yield harness


def us_dst_start(after: datetime) -> date:
    """The next second Sunday of March (US clocks go forward at 02:00)."""
    year = after.year + 1
    first = date(year, 3, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7)


async def texts_at(texts: SmsHarness, start_at: datetime, *zone_sets: list[str]) -> list[datetime]:
    """At ``start_at``, start a one-text sequence to a prospect in each of ``zone_sets``
    (all at once: awaiting a finished workflow moves the test server's clock on a lot);
    when each text went."""
    harness = texts.harness
    now = await harness.env.get_current_time()
    await harness.env.sleep(start_at - now)
    plan = StepPlan(
        step_id=1,
        position=1,
        delay=timedelta(0),
        thread_mode=ThreadMode.NEW_THREAD,
        kind=StepKind.SMS,
    )
    numbers = [f"+1415555{300 + i:04d}" for i in range(len(zone_sets))]
    handles = [
        await harness.start(
            steps=[plan],
            grace=timedelta(0),
            sms=SmsRecipient(
                sender_id=5, to_number=number, quiet_hours=QuietHoursSpec.of(legal_window(zones))
            ),
        )
        for number, zones in zip(numbers, zone_sets, strict=True)
    ]
    for handle in handles:  # one by one: gathering them would not skip time
        final = await handle.result()
        assert final.steps[0].status is StepStatus.SENT, final
    sent = {request.to_number: at for request, at in texts.sms.sends}
    return [sent[number] for number in numbers]


def same_second(a: datetime, b: datetime) -> bool:
    """The stand-in send records when Temporal scheduled it: a few ms after the slot."""
    return abs(a - b) < timedelta(seconds=1)


async def test_a_text_started_at_night_waits_for_eight_o_clock_on_the_day_clocks_change(
    free_sender: SmsHarness,
) -> None:
    now = await free_sender.harness.env.get_current_time()
    change = us_dst_start(now)
    # 09:00 UTC that Sunday: 01:00 in Los Angeles (still PST), 10:00 in Berlin (CET).
    nine_utc = datetime(change.year, change.month, change.day, 9, 0, tzinfo=UTC)

    [to_los_angeles, to_berlin] = await texts_at(
        free_sender, nine_utc, ["America/Los_Angeles"], ["Europe/Berlin"]
    )

    # 08:00 after the change is PDT (UTC-7): 15:00 UTC, not the 16:00 of 08:00 PST.
    assert same_second(to_los_angeles, nine_utc.replace(hour=15))
    local = to_los_angeles.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute, local.utcoffset()) == (8, 0, timedelta(hours=-7))
    assert same_second(to_berlin, nine_utc)  # 10:00 in Berlin: at once


async def test_the_same_moment_is_day_in_berlin_and_night_in_new_york(
    free_sender: SmsHarness,
) -> None:
    now = await free_sender.harness.env.get_current_time()
    # A coming Tuesday 07:30 UTC: 08:30 in Berlin (CET) or 09:30 (CEST); 02:30 or 03:30 in
    # New York.
    day = (now + timedelta(days=7 + (1 - now.weekday()) % 7)).date()
    moment = datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC)

    # The last: a number whose region spans two zones, legal in both, so from 08:00 in
    # the western one.
    to_berlin, to_new_york, to_both = await texts_at(
        free_sender,
        moment,
        ["Europe/Berlin"],
        ["America/New_York"],
        ["America/Chicago", "America/Denver"],
    )

    assert same_second(to_berlin, moment)  # at once: legal there
    new_york = to_new_york.astimezone(ZoneInfo("America/New_York"))
    assert new_york.date() == moment.date() and (new_york.hour, new_york.minute) == (8, 0)
    denver = to_both.astimezone(ZoneInfo("America/Denver"))
    assert denver.date() == moment.date() and (denver.hour, denver.minute) == (8, 0)
