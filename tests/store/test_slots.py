"""Slot reservations in the store: idempotent, released for reuse, safe under concurrency."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.domain.prospects import ProspectCreate
from outbound.domain.schedule import WindowSpec, window_from
from outbound.domain.sequence import ReleaseSlotRequest, ReserveSlotRequest
from outbound.domain.statuses import MessageStatus
from outbound.scheduling.windows import local_date
from outbound.store.mailbox_slots import reserve_slot
from outbound.store.prospects import upsert_prospects
from outbound.store.slots import release_slot
from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, SlotReservation
from tests.support.accounts import a_workspace

MONDAY_0700_UTC = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
WINDOW = WindowSpec(
    zone_name="Europe/Berlin", weekdays=[0, 1, 2, 3, 4], start=time(9), end=time(17)
)
ALL_DAY = window_from(list(range(7)), "00:00", "24:00", "Europe/Berlin")


def mailbox_with_enrollments(
    engine: Engine, count: int, daily_limit: int = 50, gap_minutes: int = 5
) -> tuple[int, list[int]]:
    with Session(engine) as session:
        ws, owner = a_workspace(session)
        mailbox = Mailbox(
            workspace_id=ws,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="ada@example.com",
            time_zone="Europe/Berlin",
            daily_limit=daily_limit,
            min_gap_seconds=gap_minutes * 60,
        )
        session.add(mailbox)
        session.flush()
        campaign = Campaign(
            workspace_id=ws,
            name="c",
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
            [ProspectCreate(addresses=[{"address": f"p{i}@example.com"}]) for i in range(count)],  # type: ignore[list-item]
        )
        enrollments = [
            Enrollment(
                workspace_id=ws, campaign_id=campaign.id or 0, prospect_id=pid, status="Active"
            )
            for pid in people
        ]
        session.add_all(enrollments)
        session.commit()
        return mailbox.id or 0, [e.id or 0 for e in enrollments]


def request(
    mailbox_id: int, enrollment_id: int, attempt: int = 1, position: int = 1
) -> ReserveSlotRequest:
    return ReserveSlotRequest(
        key=f"{enrollment_id}:{position}:{attempt}",
        enrollment_id=enrollment_id,
        position=position,
        mailbox_id=mailbox_id,
        to_address=f"p{enrollment_id}@example.com",
        not_before=MONDAY_0700_UTC,
        window=WINDOW,
    )


def test_a_retried_reservation_returns_the_same_slot(engine: Engine) -> None:
    mailbox_id, (first, second) = mailbox_with_enrollments(engine, 2)

    slot = reserve_slot(engine, request(mailbox_id, first))
    again = reserve_slot(engine, request(mailbox_id, first))
    other = reserve_slot(engine, request(mailbox_id, second))

    assert slot == again == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    assert other == slot + timedelta(minutes=9, seconds=36)  # 8 h spread over 50 sends
    with Session(engine) as session:
        assert len(session.exec(select(SlotReservation)).all()) == 2


def test_a_request_due_just_after_a_taken_slot_keeps_the_spacing_from_it(
    engine: Engine,
) -> None:
    mailbox_id, (first, second, third) = mailbox_with_enrollments(engine, 3)
    slot = reserve_slot(engine, request(mailbox_id, first))
    spacing = timedelta(minutes=9, seconds=36)  # 8 h spread over 50 sends

    soon = reserve_slot(
        engine, request(mailbox_id, second).model_copy(update={"not_before": slot + spacing / 2})
    )
    later = reserve_slot(
        engine, request(mailbox_id, third).model_copy(update={"not_before": slot + 3 * spacing})
    )

    assert soon == slot + spacing
    assert later == slot + 3 * spacing


def reserve_all_day(engine: Engine, mailbox_id: int, enrollment_id: int, at: datetime) -> datetime:
    """Reserve for ``enrollment_id`` at or after ``at``, in a window open all day, every day."""
    return reserve_slot(
        engine,
        request(mailbox_id, enrollment_id).model_copy(update={"not_before": at, "window": ALL_DAY}),
    )


def test_a_full_day_s_last_slot_keeps_the_next_day_s_first_at_the_spacing(
    engine: Engine,
) -> None:
    """The allocator does not load a full day's slots; one just before midnight still counts."""
    mailbox_id, (first, second) = mailbox_with_enrollments(engine, 2, daily_limit=1)
    with Session(engine) as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
        mailbox.send_days, mailbox.send_start, mailbox.send_end = list(range(7)), "00:00", "24:00"
        session.add(mailbox)
        session.commit()
    monday_2330 = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    tuesday_0000 = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)

    late = reserve_all_day(engine, mailbox_id, first, monday_2330)
    next_day = reserve_all_day(engine, mailbox_id, second, tuesday_0000)

    assert late == monday_2330
    assert next_day == monday_2330 + timedelta(hours=24)  # one a day, spread over 24 hours


def test_a_gap_longer_than_a_day_is_kept_from_a_slot_two_days_before(engine: Engine) -> None:
    mailbox_id, (first, second) = mailbox_with_enrollments(engine, 2, gap_minutes=30 * 60)
    sunday_2300 = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    tuesday_0000 = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)

    reserve_all_day(engine, mailbox_id, first, sunday_2300)
    after = reserve_all_day(engine, mailbox_id, second, tuesday_0000)

    assert after == sunday_2300 + timedelta(hours=30)


def test_the_message_log_shows_the_waiting_message_with_its_time(engine: Engine) -> None:
    mailbox_id, (enrollment_id,) = mailbox_with_enrollments(engine, 1)

    slot = reserve_slot(engine, request(mailbox_id, enrollment_id))

    with Session(engine) as session:
        message = session.exec(select(Message)).one()
        assert (message.status, message.scheduled_at, message.to_address) == (
            "Waiting",
            slot,
            f"p{enrollment_id}@example.com",
        )


def test_a_released_slot_is_given_to_the_next_request(engine: Engine) -> None:
    mailbox_id, (first, second) = mailbox_with_enrollments(engine, 2)
    slot = reserve_slot(engine, request(mailbox_id, first))

    release_slot(
        engine,
        ReleaseSlotRequest(
            key=f"{first}:1:1",
            enrollment_id=first,
            position=1,
            to_address=f"p{first}@example.com",
            message_status=MessageStatus.CANCELED,
        ),
    )

    assert reserve_slot(engine, request(mailbox_id, second)) == slot
    with Session(engine) as session:
        statuses = dict(session.exec(select(Message.enrollment_id, Message.status)).all())
        assert statuses == {first: "Canceled", second: "Waiting"}


def test_concurrent_workers_never_break_the_limit_or_the_gap(engine: Engine) -> None:
    mailbox_id, enrollment_ids = mailbox_with_enrollments(
        engine, 160, daily_limit=50, gap_minutes=5
    )

    with ThreadPoolExecutor(max_workers=8) as pool:
        slots = list(
            pool.map(lambda e: reserve_slot(engine, request(mailbox_id, e)), enrollment_ids)
        )

    with Session(engine) as session:
        stored = sorted(
            session.exec(
                select(SlotReservation.slot_at).where(col(SlotReservation.released_at).is_(None))
            )
        )
    assert sorted(slots) == stored and len(set(stored)) == 160
    assert min(b - a for a, b in pairwise(stored)) >= timedelta(minutes=5)
    per_day = Counter(local_date(s, "Europe/Berlin") for s in stored)
    assert max(per_day.values()) <= 50
    assert all(WINDOW.to_window().contains(s) for s in stored)
