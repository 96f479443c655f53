"""Where a prospect's texts go and in which hours: the first mobile number, the legal hours
in the recipient's zone (their own, else their number's region's, else the sender's)."""

from __future__ import annotations

from datetime import time

from outbound.campaigns.sms_recipient import sms_number, sms_recipient

LEGAL = (time(8), time(21))


def test_texts_go_to_the_first_mobile_number_else_the_first_number() -> None:
    assert sms_number([("+14155550100", "work"), ("+14155550101", "mobile")]) == "+14155550101"
    assert sms_number([("+14155550100", "other"), ("+14155550102", "work")]) == "+14155550100"
    assert sms_number([]) is None


def test_the_prospect_s_own_zone_beats_the_number_s_region() -> None:
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="UTC",
        prospect_time_zone="Europe/Paris",
        phones=[("+14155550123", "mobile")],
        hours=LEGAL,
    )

    assert recipient.sender_id == 3 and recipient.to_number == "+14155550123"
    hours = recipient.quiet_hours
    assert (hours.zone_name, hours.start, hours.end) == ("Europe/Paris", "08:00", "21:00")


def test_without_a_zone_the_number_s_region_gives_the_legal_hours() -> None:
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="Europe/London",
        prospect_time_zone=None,
        phones=[("+14155550123", "mobile")],  # San Francisco
        hours=(time(9), time(20)),
    )

    hours = recipient.quiet_hours
    assert (hours.zone_name, hours.start, hours.end) == ("America/Los_Angeles", "09:00", "20:00")


def test_a_region_spanning_two_zones_gets_hours_legal_in_both() -> None:
    # +1 701: North Dakota, partly Central time, partly Mountain time.
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="UTC",
        prospect_time_zone=None,
        phones=[("+17015550123", "mobile")],
        hours=LEGAL,
    )

    hours = recipient.quiet_hours
    # 08:00 in Denver is 09:00 in Central time: the window opens an hour late in the east.
    assert (hours.zone_name, hours.start, hours.end) == (
        "America/North_Dakota/Center",
        "09:00",
        "21:00",
    )


def test_no_number_and_no_zone_fall_back_to_the_sender_s_zone() -> None:
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="America/New_York",
        prospect_time_zone=None,
        phones=[],
        hours=LEGAL,
    )

    assert recipient.to_number is None
    assert recipient.quiet_hours.zone_name == "America/New_York"


def test_a_region_with_no_common_legal_hour_falls_back_to_the_sender_s_zone() -> None:
    # +7 916 (a Russian mobile): phonenumbers lists zones from Moscow to Kamchatka; with
    # the workspace's hours narrowed to 09:00-10:00 no instant is inside them everywhere.
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="Europe/Moscow",
        prospect_time_zone=None,
        phones=[("+79161234567", "mobile")],
        hours=(time(9), time(10)),
    )

    assert recipient.quiet_hours.zone_name == "Europe/Moscow"
    assert (recipient.quiet_hours.start, recipient.quiet_hours.end) == ("09:00", "10:00")


def test_a_region_spanning_many_zones_keeps_only_the_hours_legal_in_all_of_them() -> None:
    recipient = sms_recipient(
        sender_id=3,
        sender_zone="Europe/Moscow",
        prospect_time_zone=None,
        phones=[("+79161234567", "mobile")],
        hours=LEGAL,
    )

    hours = recipient.quiet_hours
    assert (hours.zone_name, hours.start, hours.end) == ("Asia/Kamchatka", "18:00", "21:00")
