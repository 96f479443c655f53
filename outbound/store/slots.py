"""Durable, idempotent mailbox slot reservations, correct with many concurrent workers.

Every reservation first bumps the mailbox's ``reservation_version``: on
PostgreSQL that row lock, on SQLite the database write lock, serialises all
reservations of one mailbox for the length of the transaction, so the
allocator sees every slot taken before it and no two workers can take slots
that together break the limit or the gap.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, func, insert, update
from sqlmodel import Session, col, select

from outbound.domain.schedule import window_from
from outbound.domain.sequence import ReleaseSlotRequest, ReserveSlotRequest
from outbound.domain.statuses import MessageStatus
from outbound.mail.compose import make_message_id
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.windows import local_date, local_datetime
from outbound.store.tables import Mailbox, Message, SlotReservation

_UNSENT = (MessageStatus.WAITING.value, MessageStatus.CANCELED.value, MessageStatus.RETRYING.value)


def mailbox_limits(mailbox: Mailbox) -> MailboxLimits:
    """The pure-code limits of a stored mailbox."""
    window = window_from(mailbox.send_days, mailbox.send_start, mailbox.send_end, mailbox.time_zone)
    return MailboxLimits(
        zone_name=mailbox.time_zone,
        daily_limit=mailbox.daily_limit,
        min_gap=timedelta(seconds=mailbox.min_gap_seconds),
        window=window.to_window(),
    )


def taken_slots(
    session: Session, mailbox_id: int, start: datetime, end: datetime
) -> list[datetime]:
    """Held and used slots of the mailbox in [start, end)."""
    return list(
        session.exec(
            select(SlotReservation.slot_at).where(
                SlotReservation.mailbox_id == mailbox_id,
                col(SlotReservation.released_at).is_(None),
                SlotReservation.slot_at >= start,
                SlotReservation.slot_at < end,
            )
        )
    )


def reserve_slot(engine: Engine, request: ReserveSlotRequest) -> datetime:
    """Reserve (or find again, by key) the slot for one send; logs the message as Waiting."""
    with Session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(Mailbox)
            .where(col(Mailbox.id) == request.mailbox_id)
            .values(reservation_version=Mailbox.reservation_version + 1)
        )
        existing = session.exec(
            select(SlotReservation.slot_at).where(SlotReservation.key == request.key)
        ).first()
        if existing is not None:
            session.rollback()
            return existing
        mailbox = session.get_one(Mailbox, request.mailbox_id)
        slot = _allocate(session, mailbox, request)
        session.exec(  # type: ignore[call-overload]
            insert(SlotReservation).values(
                key=request.key,
                mailbox_id=request.mailbox_id,
                enrollment_id=request.enrollment_id,
                position=request.position,
                slot_at=slot,
                slot_day=local_date(slot, mailbox.time_zone),
            )
        )
        _log_waiting(session, mailbox, request, slot)
        session.commit()
        return slot


def release_slot(engine: Engine, request: ReleaseSlotRequest) -> None:
    """Give the slot back (idempotent); optionally update the message log."""
    with Session(engine) as session:
        reservation = session.exec(
            select(SlotReservation).where(SlotReservation.key == request.key)
        ).first()
        if reservation is not None and reservation.released_at is None:
            reservation.released_at = datetime.now(UTC)
            session.add(reservation)
        if request.message_status is not None:
            message = session.exec(
                select(Message).where(
                    Message.enrollment_id == request.enrollment_id,
                    Message.position == request.position,
                    Message.to_address == request.to_address,
                )
            ).first()
            if message is not None and message.status in _UNSENT:
                message.status = request.message_status.value
                message.scheduled_at = None
                session.add(message)
        session.commit()


def _allocate(session: Session, mailbox: Mailbox, request: ReserveSlotRequest) -> datetime:
    """Per-day counts from one GROUP BY; slot times only for the days that still have room."""
    assert mailbox.id is not None
    limits = mailbox_limits(mailbox)
    earliest = request.not_before
    if mailbox.throttled_until is not None and mailbox.throttled_until > earliest:
        earliest = mailbox.throttled_until  # the provider's rate limit holds until then
    first_day = local_date(earliest, limits.zone_name)
    counts: dict[date, int] = dict(
        session.exec(
            select(col(SlotReservation.slot_day), func.count())
            .where(
                SlotReservation.mailbox_id == mailbox.id,
                col(SlotReservation.released_at).is_(None),
                SlotReservation.slot_day >= first_day - timedelta(days=1),
            )
            .group_by(col(SlotReservation.slot_day))
        ).all()
    )
    window = request.window.to_window()
    # Every slot before the first mailbox day with room is infeasible: start there.
    # (A window in the mailbox's own zone also rules out its closed weekdays.)
    same_zone = window.zone_name == limits.zone_name
    day = first_day
    while counts.get(day, 0) >= limits.daily_limit or (
        same_zone and day.weekday() not in window.weekdays
    ):
        day += timedelta(days=1)
    not_before = max(earliest, local_datetime(day, time(0), limits.zone_name))
    # The slot found is at or after not_before, so a slot more than the spacing before it
    # can never be too close: such slots (a busy day's earlier sends) are not loaded.
    open_days = [d for d, count in counts.items() if count < limits.daily_limit]
    calendar = MailboxCalendar.of(
        limits,
        _slots_on(session, mailbox.id, open_days, since=not_before - limits.spacing),
        day_counts=counts,
    )
    # Slots of full days, and of days before the day ahead of first_day, were not
    # loaded: unless none of them can be within the spacing, look for them near the slot.
    all_near_loaded = len(open_days) == len(counts)
    horizon = local_datetime(first_day - timedelta(days=1), time(0), limits.zone_name)
    while True:
        slot = calendar.earliest_slot(not_before, window)
        if all_near_loaded and slot - limits.spacing >= horizon:
            return slot
        unseen = [
            t
            for t in taken_slots(session, mailbox.id, slot - limits.spacing, slot + limits.spacing)
            if t not in calendar.taken
        ]
        if not unseen:
            return slot
        calendar.know(unseen)


def _slots_on(
    session: Session, mailbox_id: int, days: list[date], since: datetime
) -> list[datetime]:
    if not days:
        return []
    return list(
        session.exec(
            select(SlotReservation.slot_at).where(
                SlotReservation.mailbox_id == mailbox_id,
                col(SlotReservation.released_at).is_(None),
                col(SlotReservation.slot_day).in_(days),
                SlotReservation.slot_at >= since,
            )
        )
    )


def _log_waiting(
    session: Session, mailbox: Mailbox, request: ReserveSlotRequest, slot: datetime
) -> None:
    """The message log shows the step Waiting for its slot (unless it already went)."""
    logged = session.exec(
        select(Message.id, Message.status).where(
            Message.enrollment_id == request.enrollment_id,
            Message.position == request.position,
            Message.to_address == request.to_address,
        )
    ).first()
    waiting = {"status": MessageStatus.WAITING.value, "scheduled_at": slot}
    if logged is None:
        session.exec(  # type: ignore[call-overload]
            insert(Message).values(
                enrollment_id=request.enrollment_id,
                position=request.position,
                to_address=request.to_address,
                message_id=make_message_id(
                    request.enrollment_id,
                    request.position,
                    mailbox.from_address,
                    request.to_address,
                ),
                **waiting,
            )
        )
        return
    row_id, status = logged
    if status in _UNSENT:
        session.exec(  # type: ignore[call-overload]
            update(Message).where(col(Message.id) == row_id).values(**waiting)
        )
