"""SMS sender slots in the store: one book shared by every campaign on the sender, the daily
limit and the per-second gap kept under concurrency, idempotent, released for reuse."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.domain.prospects import ProspectCreate
from outbound.domain.schedule import QuietHoursSpec, WindowSpec, window_from
from outbound.domain.sms_sequence import ReleaseSmsSlotRequest, ReserveSmsSlotRequest
from outbound.domain.statuses import MessageStatus
from outbound.scheduling.quiet_hours import NoCommonHours, legal_window
from outbound.scheduling.windows import local_date
from outbound.store.encryption import Keyring, new_key
from outbound.store.prospects import upsert_prospects
from outbound.store.slots import release_sms_slot, reserve_sms_slot, sms_message_id
from outbound.store.sms_senders import sms_sender_in_use
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Message,
    SlotReservation,
    SmsSender,
    SmsSlotReservation,
)
from tests.support.accounts import a_workspace

MONDAY_0700_UTC = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
WINDOW = WindowSpec(
    zone_name="Europe/Berlin", weekdays=[0, 1, 2, 3, 4], start=time(9), end=time(17)
)
ALL_DAY = window_from(list(range(7)), "00:00", "24:00", "Europe/Berlin")


def sender_with_two_campaigns(
    engine: Engine,
    per_campaign: int,
    daily_limit: int = 200,
    per_second: float = 1.0,
    hours: tuple[str, str] = ("09:00", "17:00"),
) -> tuple[int, list[int], list[int]]:
    """A sender (Berlin, Mon–Fri, 9–17 unless ``hours``) and two campaigns' enrollments."""
    with Session(engine) as session:
        ws, owner = a_workspace(session)
        sender = SmsSender(
            workspace_id=ws,
            name="line",
            account_sid="AC" + "0" * 32,
            auth_token_encrypted=Keyring.from_keys([new_key()]).encrypt("t"),
            from_number="+14155550100",
            time_zone="Europe/Berlin",
            daily_limit=daily_limit,
            per_second=per_second,
            send_start=hours[0],
            send_end=hours[1],
        )
        mailbox = Mailbox(
            workspace_id=ws, smtp_host="h", smtp_port=25, tls_mode="none", from_address="a@x.org"
        )
        session.add_all([sender, mailbox])
        session.flush()
        enrolled: list[list[Enrollment]] = []
        for name in ("first", "second"):
            campaign = Campaign(
                workspace_id=ws,
                name=name,
                owner_user_id=owner,
                mailbox_id=mailbox.id or 0,
                status="InProgress",
                grace_seconds=0,
            )
            session.add(campaign)
            session.flush()
            people = upsert_prospects(
                session,
                ws,
                [
                    ProspectCreate(addresses=[{"address": f"{name}{i}@example.com"}])  # type: ignore[list-item]
                    for i in range(per_campaign)
                ],
            )
            rows = [
                Enrollment(
                    workspace_id=ws, campaign_id=campaign.id or 0, prospect_id=p, status="Active"
                )
                for p in people
            ]
            session.add_all(rows)
            enrolled.append(rows)
        session.commit()
        first, second = ([e.id or 0 for e in rows] for rows in enrolled)
        return sender.id or 0, first, second


def number(enrollment_id: int) -> str:
    return f"+1415555{enrollment_id:04d}"


def request(
    sender_id: int, enrollment_id: int, attempt: int = 1, window: WindowSpec = WINDOW
) -> ReserveSmsSlotRequest:
    return ReserveSmsSlotRequest(
        key=f"sms:{enrollment_id}:1:{attempt}",
        enrollment_id=enrollment_id,
        position=1,
        sender_id=sender_id,
        to_number=number(enrollment_id),
        not_before=MONDAY_0700_UTC,
        window=window,
    )


def active_slots(engine: Engine) -> list[datetime]:
    with Session(engine) as session:
        return sorted(
            session.exec(
                select(SmsSlotReservation.slot_at).where(
                    col(SmsSlotReservation.released_at).is_(None)
                )
            )
        )


def test_two_campaigns_on_one_sender_share_its_daily_limit_under_concurrency(
    engine: Engine,
) -> None:
    sender_id, first, second = sender_with_two_campaigns(engine, 30, daily_limit=8)
    mixed = [e for pair in zip(first, second, strict=True) for e in pair]

    with ThreadPoolExecutor(max_workers=8) as pool:
        slots = list(pool.map(lambda e: reserve_sms_slot(engine, request(sender_id, e)), mixed))

    stored = active_slots(engine)
    assert sorted(slots) == stored and len(set(stored)) == 60
    per_day = Counter(local_date(s, "Europe/Berlin") for s in stored)
    assert set(per_day.values()) == {8} | ({60 % 8} - {0})  # full days, then the rest
    assert all(WINDOW.to_window().contains(s) for s in stored)
    with Session(engine) as session:
        assert session.exec(select(SlotReservation)).all() == []  # the mailbox book untouched


def test_the_per_second_rate_keeps_two_sends_apart_under_concurrency(engine: Engine) -> None:
    # 200 a day over a 24-hour window would spread mail 7.2 minutes apart; texts go at
    # the sender's rate, back to back.
    sender_id, first, second = sender_with_two_campaigns(
        engine, 40, daily_limit=200, per_second=0.5, hours=("00:00", "24:00")
    )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda e: reserve_sms_slot(engine, request(sender_id, e, window=ALL_DAY)),
                first + second,
            )
        )

    stored = active_slots(engine)
    gaps = [b - a for a, b in pairwise(stored)]
    assert len(stored) == 80 and stored[0] == MONDAY_0700_UTC
    assert min(gaps) == timedelta(seconds=2) == max(gaps)  # back to back at the rate


def test_a_retried_reservation_returns_the_same_slot_and_logs_one_queued_sms(
    engine: Engine,
) -> None:
    sender_id, (first,), (second,) = sender_with_two_campaigns(engine, 1)

    slot = reserve_sms_slot(engine, request(sender_id, first))
    again = reserve_sms_slot(engine, request(sender_id, first))
    other = reserve_sms_slot(engine, request(sender_id, second))

    assert slot == again == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    # At the sender's rate (1 a second), not spread over the day as a mailbox's mail is.
    assert other == slot + timedelta(seconds=1)
    with Session(engine) as session:
        assert len(session.exec(select(SmsSlotReservation)).all()) == 2
        message = session.exec(select(Message).where(Message.enrollment_id == first)).one()
    assert (message.channel, message.status, message.scheduled_at, message.to_address) == (
        "sms",
        "Queued",
        slot,
        number(first),
    )
    assert message.message_id == sms_message_id(first, 1, number(first))
    assert number(first) not in message.message_id


def test_a_released_slot_is_given_to_the_next_request_and_the_sms_is_canceled(
    engine: Engine,
) -> None:
    sender_id, (first,), (second,) = sender_with_two_campaigns(engine, 1)
    slot = reserve_sms_slot(engine, request(sender_id, first))
    release = ReleaseSmsSlotRequest(
        key=f"sms:{first}:1:1",
        enrollment_id=first,
        position=1,
        to_number=number(first),
        message_status=MessageStatus.CANCELED,
    )

    release_sms_slot(engine, release)
    release_sms_slot(engine, release)  # idempotent

    assert reserve_sms_slot(engine, request(sender_id, second)) == slot
    with Session(engine) as session:
        statuses = dict(session.exec(select(Message.enrollment_id, Message.status)).all())
    assert statuses == {first: "Canceled", second: "Queued"}
    # A new attempt for the canceled one queues it again.
    requeued = reserve_sms_slot(engine, request(sender_id, first, attempt=2))
    with Session(engine) as session:
        message = session.exec(select(Message).where(Message.enrollment_id == first)).one()
    assert (message.status, message.scheduled_at) == ("Queued", requeued)


def test_a_sender_with_queued_messages_is_in_use(engine: Engine) -> None:
    sender_id, (first,), _ = sender_with_two_campaigns(engine, 1)
    with Session(engine) as session:
        assert sms_sender_in_use(session, sender_id) is None
    reserve_sms_slot(
        engine,
        request(sender_id, first).model_copy(
            update={"not_before": datetime.now(UTC) + timedelta(days=1)}
        ),
    )
    with Session(engine) as session:
        assert "queued" in (sms_sender_in_use(session, sender_id) or "")


def test_an_sms_slot_lies_inside_the_senders_own_days_and_hours(engine: Engine) -> None:
    # The campaign allows every hour of every day; the sender only Mon–Fri 09:00–17:00 Berlin.
    sender_id, (first,), _ = sender_with_two_campaigns(engine, 1)
    saturday_night = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)

    slot = reserve_sms_slot(
        engine,
        request(sender_id, first, window=ALL_DAY).model_copy(update={"not_before": saturday_night}),
    )

    assert slot == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin


def test_an_sms_slot_waits_for_the_recipients_legal_hours(engine: Engine) -> None:
    # Berlin opens at 09:00 (08:00 UTC); in New York that is 03:00: the text waits for 08:00.
    sender_id, (first,), _ = sender_with_two_campaigns(engine, 1, hours=("00:00", "24:00"))
    quiet = QuietHoursSpec.of(legal_window(["America/New_York"]))

    slot = reserve_sms_slot(
        engine, request(sender_id, first).model_copy(update={"quiet_hours": quiet})
    )

    assert slot == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 in New York (EST)


def test_hours_that_never_meet_the_recipients_legal_hours_are_refused_not_looped(
    engine: Engine,
) -> None:
    # Berlin 03:00–05:00 starts at 21:00 or 22:00 in New York, whatever either clock
    # does: never inside its legal 08:00–21:00.
    sender_id, (first,), _ = sender_with_two_campaigns(engine, 1, hours=("03:00", "05:00"))
    quiet = QuietHoursSpec.of(legal_window(["America/New_York"]))

    with pytest.raises(NoCommonHours):
        reserve_sms_slot(
            engine, request(sender_id, first).model_copy(update={"quiet_hours": quiet})
        )

    assert active_slots(engine) == []


RECIPIENT_ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Chicago",
    "America/Phoenix",
    "America/St_Johns",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Honolulu",
]
SENDER_ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo"]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    recipient=st.lists(st.sampled_from(RECIPIENT_ZONES), min_size=1, max_size=2, unique=True),
    sender_zone=st.sampled_from(SENDER_ZONES),
    sender_days=st.sets(st.integers(0, 6), min_size=1),
    opens=st.integers(0, 10),
    not_before=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
)
def test_a_reserved_sms_slot_is_never_outside_the_recipients_legal_hours(
    engine: Engine,
    recipient: list[str],
    sender_zone: str,
    sender_days: set[int],
    opens: int,
    not_before: datetime,
) -> None:
    try:
        legal = legal_window(recipient)
    except ValueError:  # zones half a day apart share no legal hour: Start refuses them
        assume(False)
    sender_id, enrollment = _one_sender(engine)
    with Session(engine) as session:
        sender = session.get_one(SmsSender, sender_id)
        sender.time_zone, sender.send_days = sender_zone, sorted(sender_days)
        sender.send_start, sender.send_end = f"{opens:02d}:00", f"{opens + 13:02d}:30"
        session.add(sender)
        session.commit()
    campaign = window_from(list(range(7)), "06:00", "23:00", "America/Chicago")
    _counter.append(1)
    position = len(_counter)
    try:
        slot = reserve_sms_slot(
            engine,
            ReserveSmsSlotRequest(
                key=f"prop:{position}",
                enrollment_id=enrollment,
                position=position,
                sender_id=sender_id,
                to_number=number(enrollment),
                not_before=not_before,
                window=campaign,
                quiet_hours=QuietHoursSpec.of(legal),
            ),
        )
    except ValueError:  # the sender's hours and the legal ones never meet: nothing reserved
        assume(False)

    for zone_name in recipient:
        local = slot.astimezone(ZoneInfo(zone_name)).time()
        assert time(8) <= local < time(21), (zone_name, slot)
    sender_window = window_from(
        sorted(sender_days), f"{opens:02d}:00", f"{opens + 13:02d}:30", sender_zone
    )
    assert sender_window.to_window().contains(slot)
    assert campaign.to_window().contains(slot)
    assert slot >= not_before


_counter: list[int] = []
_senders: dict[str, tuple[int, int]] = {}


def _one_sender(engine: Engine) -> tuple[int, int]:
    """One sender and enrollment per database (hypothesis reuses the test's engine)."""
    url = str(engine.url)
    if url not in _senders:
        sender_id, (first,), _ = sender_with_two_campaigns(engine, 1)
        _senders[url] = (sender_id, first)
    return _senders[url]
