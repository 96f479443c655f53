"""Durable, idempotent slot reservations for mailboxes and SMS senders, correct with many
concurrent workers.

Every reservation first bumps its owner's ``reservation_version`` (the mailbox's,
or the SMS sender's): on PostgreSQL that row lock, on SQLite the database
write lock, serialises all reservations of one owner for the length of the
transaction, so the allocator sees every slot taken before it and no two
workers can take slots that together break the limit or the gap.

Mailboxes and SMS senders keep the same book (:class:`SlotBook`): a table of
reservations with an owner column, and the owner's limits. One allocator
serves both; only the message log's entry differs (an email Waiting, an SMS
Queued).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, func, insert, update
from sqlmodel import Session, col, select

from outbound.domain.schedule import window_from
from outbound.domain.sequence import ReleaseSlotRequest
from outbound.domain.sms_sequence import ReleaseSmsSlotRequest, ReserveSmsSlotRequest
from outbound.domain.statuses import MessageStatus
from outbound.scheduling.domain_caps import DomainLoad
from outbound.scheduling.quiet_hours import IntersectedWindow
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.warmup import WarmUp
from outbound.scheduling.windows import Window, local_date, local_datetime
from outbound.store.sms_senders import sms_sender_limits
from outbound.store.tables import Mailbox, Message, SlotReservation, SmsSender, SmsSlotReservation

UNSENT = (MessageStatus.WAITING.value, MessageStatus.CANCELED.value, MessageStatus.RETRYING.value)
_SMS_UNSENT = (
    MessageStatus.QUEUED.value,
    MessageStatus.CANCELED.value,
    MessageStatus.RETRYING.value,
)


def mailbox_limits(mailbox: Mailbox) -> MailboxLimits:
    """The pure-code limits of a stored mailbox (with its warm-up ramp, if any)."""
    window = window_from(mailbox.send_days, mailbox.send_start, mailbox.send_end, mailbox.time_zone)
    warmup = None
    if mailbox.warmup_start is not None and mailbox.warmup_started_on is not None:
        warmup = WarmUp(mailbox.warmup_start, mailbox.warmup_increment, mailbox.warmup_started_on)
    return MailboxLimits(
        zone_name=mailbox.time_zone,
        daily_limit=mailbox.daily_limit,
        min_gap=timedelta(seconds=mailbox.min_gap_seconds),
        window=window.to_window(),
        warmup=warmup,
    )


@dataclass(frozen=True)
class SlotBook:
    """Where one kind of sender keeps its slots: the owner's table (its
    ``reservation_version`` bumped, its limits and ``throttled_until`` read) and the
    reservations' table with its owner column."""

    owner: type[Mailbox] | type[SmsSender]
    slots: type[SlotReservation] | type[SmsSlotReservation]
    owner_column: str
    limits: Callable[[Any], MailboxLimits]

    def owned_by(self, owner_id: int) -> ColumnElement[bool]:
        """The reservations of one owner."""
        column: ColumnElement[int] = getattr(self.slots, self.owner_column)
        return column == owner_id


MAILBOX_BOOK = SlotBook(Mailbox, SlotReservation, "mailbox_id", mailbox_limits)
SMS_BOOK = SlotBook(SmsSender, SmsSlotReservation, "sender_id", sms_sender_limits)


def taken_slots(
    session: Session,
    mailbox_id: int,
    start: datetime,
    end: datetime,
    book: SlotBook = MAILBOX_BOOK,
) -> list[datetime]:
    """Held and used slots of the mailbox (or ``book``'s owner) in [start, end)."""
    slots = book.slots
    return list(
        session.exec(
            select(slots.slot_at).where(
                book.owned_by(mailbox_id),
                col(slots.released_at).is_(None),
                slots.slot_at >= start,
                slots.slot_at < end,
            )
        )
    )


def reserve_sms_slot(engine: Engine, request: ReserveSmsSlotRequest) -> datetime:
    """Reserve (or find again, by key) the SMS sender's slot for one message; logs the
    message as Queued (channel ``sms``, the number as its address).

    The sender's daily limit, its rate (one message per ``1/per_second`` s) and
    its days and hours are shared with every campaign on it, as a mailbox's are.
    """

    def log(session: Session, _sender: SmsSender, slot: datetime) -> None:
        log_unsent(
            session,
            request.enrollment_id,
            request.position,
            request.to_number,
            slot,
            MessageStatus.QUEUED,
            _SMS_UNSENT,
            lambda: {
                "message_id": sms_message_id(
                    request.enrollment_id, request.position, request.to_number
                ),
                "channel": "sms",
            },
        )

    return _reserve(
        engine,
        SMS_BOOK,
        request.sender_id,
        _Attempt(request.key, request.enrollment_id, request.position, request.not_before),
        lambda limits: _sms_window(request, limits),
        log,
    )


def _sms_window(request: ReserveSmsSlotRequest, sender: MailboxLimits) -> Window:
    """The instants an SMS may go at: inside the sender's own days and hours, the
    campaign's window (``request.window``) and the recipient's legal hours
    (``request.quiet_hours``) at once.

    The sender's window comes first: the allocator reads the intersection's
    ``zone_name`` and ``weekdays`` as the sender's calendar days to skip, and the
    sender's limits are kept in its own zone. Raises ``NoCommonHours`` when the windows
    never overlap (the workflow then skips the step, ``NoLegalHours``).
    """
    window: Window = IntersectedWindow(sender.window, request.window.to_window())
    if request.quiet_hours is not None:
        window = IntersectedWindow(window, request.quiet_hours.to_window())
    return window


def sms_message_id(enrollment_id: int, position: int, to_number: str) -> str:
    """The message log's stable id of an SMS (the number only as a hash)."""
    digest = hashlib.sha256(to_number.encode()).hexdigest()[:16]
    return f"sms-{enrollment_id}-{position}-{digest}"


def release_slot(engine: Engine, request: ReleaseSlotRequest) -> None:
    """Give the slot back (idempotent); optionally update the message log."""
    _release(
        engine,
        MAILBOX_BOOK,
        request.key,
        (request.enrollment_id, request.position, request.to_address),
        request.message_status,
        UNSENT,
    )


def release_sms_slot(engine: Engine, request: ReleaseSmsSlotRequest) -> None:
    """Give an SMS slot back (idempotent); optionally update the message log (a Queued
    message becomes ``message_status``, e.g. Canceled)."""
    _release(
        engine,
        SMS_BOOK,
        request.key,
        (request.enrollment_id, request.position, request.to_number),
        request.message_status,
        _SMS_UNSENT,
    )


@dataclass(frozen=True)
class _Attempt:
    """What a reservation request says, whatever its channel."""

    key: str
    enrollment_id: int
    position: int
    not_before: datetime


def _reserve(
    engine: Engine,
    book: SlotBook,
    owner_id: int,
    attempt: _Attempt,
    window_for: Callable[[MailboxLimits], Window],
    log: Callable[[Session, Any, datetime], None],
) -> datetime:
    """Reserve the owner's slot inside ``window_for(the owner's limits)``."""
    slots = book.slots
    with Session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(book.owner)
            .where(col(book.owner.id) == owner_id)
            .values(reservation_version=book.owner.reservation_version + 1)
        )
        existing = session.exec(select(slots.slot_at).where(slots.key == attempt.key)).first()
        if existing is not None:
            session.rollback()
            return existing
        owner = cast(Mailbox | SmsSender, session.get_one(book.owner, owner_id))
        limits = book.limits(owner)
        earliest = attempt.not_before
        if owner.throttled_until is not None and owner.throttled_until > earliest:
            earliest = owner.throttled_until  # the provider's rate limit holds until then
        slot = allocate(session, book, owner_id, limits, earliest, window_for(limits))
        session.exec(  # type: ignore[call-overload]
            insert(slots).values(
                {
                    "key": attempt.key,
                    book.owner_column: owner_id,
                    "enrollment_id": attempt.enrollment_id,
                    "position": attempt.position,
                    "slot_at": slot,
                    "slot_day": local_date(slot, limits.zone_name),
                }
            )
        )
        log(session, owner, slot)
        session.commit()
        return slot


def _release(
    engine: Engine,
    book: SlotBook,
    key: str,
    message: tuple[int, int, str],
    message_status: MessageStatus | None,
    unsent: tuple[str, ...],
) -> None:
    enrollment_id, position, to_address = message
    with Session(engine) as session:
        reservation = cast(
            SlotReservation | SmsSlotReservation | None,
            session.exec(select(book.slots).where(book.slots.key == key)).first(),
        )
        if reservation is not None and reservation.released_at is None:
            reservation.released_at = datetime.now(UTC)
            session.add(reservation)
        if message_status is not None:
            logged = session.exec(
                select(Message).where(
                    Message.enrollment_id == enrollment_id,
                    Message.position == position,
                    Message.to_address == to_address,
                )
            ).first()
            if logged is not None and logged.status in unsent:
                logged.status = message_status.value
                logged.scheduled_at = None
                session.add(logged)
        session.commit()


def allocate(
    session: Session,
    book: SlotBook,
    owner_id: int,
    limits: MailboxLimits,
    earliest: datetime,
    window: Window,
    domain_load: Callable[[date], DomainLoad] | None = None,
) -> datetime:
    """The owner's earliest slot at or after ``earliest`` inside ``window`` (not taken yet),
    within a recipient domain's cap if ``domain_load`` is given: it loads the domain's
    slots from a day on (the first day with room: earlier days are full anyway).

    Per-day counts from one GROUP BY; slot times only for the days that still have room."""
    slots = book.slots
    first_day = local_date(earliest, limits.zone_name)
    counts: dict[date, int] = dict(
        session.exec(
            select(col(slots.slot_day), func.count())
            .where(
                book.owned_by(owner_id),
                col(slots.released_at).is_(None),
                slots.slot_day >= first_day - timedelta(days=1),
            )
            .group_by(col(slots.slot_day))
        ).all()
    )
    # Every slot before the first owner-local day with room is infeasible: start there.
    # (A window in the owner's own zone also rules out its closed weekdays.)
    same_zone = window.zone_name == limits.zone_name
    day = first_day
    while counts.get(day, 0) >= limits.limit_on(day) or (
        same_zone and day.weekday() not in window.weekdays
    ):
        day += timedelta(days=1)
    not_before = max(earliest, local_datetime(day, time(0), limits.zone_name))
    domain = None if domain_load is None else domain_load(local_date(not_before, limits.zone_name))
    # The slot found is at or after not_before, so a slot more than the spacing before it
    # can never be too close: such slots (a busy day's earlier sends) are not loaded.
    open_days = [d for d, count in counts.items() if count < limits.limit_on(d)]
    calendar = MailboxCalendar.of(
        limits,
        _slots_on(session, book, owner_id, open_days, since=not_before - limits.spacing),
        day_counts=counts,
    )
    # Slots of full days, and of days before the day ahead of first_day, were not
    # loaded: unless none of them can be within the spacing, look for them near the slot.
    all_near_loaded = len(open_days) == len(counts)
    horizon = local_datetime(first_day - timedelta(days=1), time(0), limits.zone_name)
    while True:
        slot = calendar.earliest_slot(not_before, window, domain)
        if all_near_loaded and slot - limits.spacing >= horizon:
            return slot
        near = taken_slots(session, owner_id, slot - limits.spacing, slot + limits.spacing, book)
        unseen = [t for t in near if t not in calendar.taken]
        if not unseen:
            return slot
        calendar.know(unseen)


def _slots_on(
    session: Session, book: SlotBook, owner_id: int, days: list[date], since: datetime
) -> list[datetime]:
    if not days:
        return []
    slots = book.slots
    return list(
        session.exec(
            select(slots.slot_at).where(
                book.owned_by(owner_id),
                col(slots.released_at).is_(None),
                col(slots.slot_day).in_(days),
                slots.slot_at >= since,
            )
        )
    )


def log_unsent(
    session: Session,
    enrollment_id: int,
    position: int,
    to_address: str,
    slot: datetime,
    status: MessageStatus,
    unsent: tuple[str, ...],
    new_row: Callable[[], dict[str, Any]],
) -> None:
    """The message log shows the step waiting for its slot, as ``status`` (unless it
    already went); ``new_row`` gives a first entry's own values (its message id …)."""
    logged = session.exec(
        select(Message.id, Message.status).where(
            Message.enrollment_id == enrollment_id,
            Message.position == position,
            Message.to_address == to_address,
        )
    ).first()
    waiting = {"status": status.value, "scheduled_at": slot}
    if logged is None:
        session.exec(  # type: ignore[call-overload]
            insert(Message).values(
                enrollment_id=enrollment_id,
                position=position,
                to_address=to_address,
                **new_row(),
                **waiting,
            )
        )
        return
    row_id, current = logged
    if current in unsent:
        session.exec(  # type: ignore[call-overload]
            update(Message).where(col(Message.id) == row_id).values(**waiting)
        )
