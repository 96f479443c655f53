"""Which window and zone a prospect's sequence follows."""

from __future__ import annotations

from datetime import UTC, datetime, time

from outbound.campaigns.start import schedule_for
from outbound.scheduling.when_to_send import WhenToSend
from outbound.store.tables import Campaign, Mailbox, Prospect

MAILBOX = Mailbox(
    smtp_host="h",
    smtp_port=25,
    tls_mode="none",
    from_address="a@example.com",
    time_zone="Europe/Berlin",
    send_days=[0, 1, 2, 3, 4],
    send_start="09:00",
    send_end="17:00",
)


def campaign(**settings: object) -> Campaign:
    return Campaign(
        workspace_id=1,
        name="c",
        owner_user_id=1,
        mailbox_id=1,
        status="Ready",
        grace_seconds=0,
        **settings,
    )


def test_the_mailbox_window_and_zone_by_default() -> None:
    schedule = schedule_for(campaign(), MAILBOX, Prospect(time_zone="Asia/Tokyo"))

    assert schedule.window.zone_name == "Europe/Berlin"
    assert (schedule.window.weekdays, schedule.window.start, schedule.window.end) == (
        [0, 1, 2, 3, 4],
        time(9),
        time(17),
    )


def test_the_campaign_window_overrides_the_mailbox_window() -> None:
    schedule = schedule_for(
        campaign(send_days=[1, 3], send_start="10:30", send_end="24:00"), MAILBOX, Prospect()
    )

    assert (schedule.window.weekdays, schedule.window.start, schedule.window.end) == (
        [1, 3],
        time(10, 30),
        time(0),
    )


def test_the_prospects_own_zone_when_the_campaign_asks_for_it() -> None:
    schedule = schedule_for(
        campaign(time_zone_source="prospect"), MAILBOX, Prospect(time_zone="Asia/Tokyo")
    )

    assert schedule.window.zone_name == "Asia/Tokyo"


def test_a_prospect_without_a_zone_falls_back_to_the_mailbox_and_is_still_scheduled() -> None:
    schedule = schedule_for(
        campaign(time_zone_source="prospect"), MAILBOX, Prospect(time_zone=None)
    )

    window = schedule.window.to_window()
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert schedule.window.zone_name == "Europe/Berlin"
    assert window.next_opening(saturday) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Mon 09:00


def test_the_when_to_send_preference_travels_with_the_schedule() -> None:
    schedule = schedule_for(
        campaign(when_to_send="specific_time", specific_time="08:15"), MAILBOX, Prospect()
    )

    assert (schedule.when_to_send, schedule.specific_time) == (
        WhenToSend.SPECIFIC_TIME,
        time(8, 15),
    )
