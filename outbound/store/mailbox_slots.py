"""A mailbox slot for one email, with every sending rule: the mailbox of a pool, its
warm-up ramp, the recipient domain's cap, holidays and blackout dates.

Like every reservation (``outbound.store.slots``) it serialises on the mailbox's
``reservation_version``: the rules are checked against every slot taken before,
by any worker. A prospect of a pool campaign who has no mailbox yet locks every
mailbox of the pool (in id order, so two never wait on each other), asks each
for its earliest slot, takes the best offer (``outbound.scheduling.pool``) and
is given that mailbox for good (``enrollment.mailbox_id``) in the same
transaction. A retried request finds its slot again by key.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, update
from sqlmodel import Session, col, select

from outbound.domain.sending_rules import DomainCaps
from outbound.domain.sequence import ReserveSlotRequest
from outbound.domain.statuses import MailboxConnection, MessageStatus
from outbound.mail.compose import make_message_id
from outbound.scheduling.blackouts import days_off, without_days
from outbound.scheduling.domain_caps import Cap, DomainLoad
from outbound.scheduling.pool import Offer, choose
from outbound.scheduling.windows import Window, local_date
from outbound.store.sending_rules import workspace_caps
from outbound.store.slots import MAILBOX_BOOK, UNSENT, allocate, log_unsent, mailbox_limits
from outbound.store.tables import Campaign, Enrollment, Mailbox, SlotReservation, Workspace


def recipient_domain(address: str) -> str:
    """The domain the per-domain caps count (lower-cased)."""
    return address.rpartition("@")[2].strip().lower()


def reserve_slot(
    engine: Engine, request: ReserveSlotRequest, default_caps: DomainCaps | None = None
) -> datetime:
    """Reserve (or find again, by key) the slot for one send; logs the message as Waiting.

    ``default_caps``: the deployment's per-domain caps, for workspaces that set none
    (None: only a workspace's own caps apply).
    """
    with Session(engine) as session:
        existing = _held(session, request.key)
        if existing is not None:
            return existing
        assigned, pool, calendar, blackouts = session.exec(
            select(
                Enrollment.mailbox_id,
                Campaign.mailbox_pool,
                Campaign.holiday_calendar,
                Campaign.blackout_dates,
            )
            .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
            .where(Enrollment.id == request.enrollment_id)
        ).one()
        candidates = sorted({assigned} if assigned else set(pool or [request.mailbox_id]))
        for mailbox_id in candidates:  # the lock of each (see outbound.store.slots)
            session.exec(  # type: ignore[call-overload]
                update(Mailbox)
                .where(col(Mailbox.id) == mailbox_id)
                .values(reservation_version=Mailbox.reservation_version + 1)
            )
        existing = _held(session, request.key)
        if existing is not None:
            session.rollback()
            return existing
        asked = request.window.to_window()
        first_day = local_date(request.not_before, asked.zone_name)
        window = without_days(asked, days_off(calendar, blackouts, first_day), asked.zone_name)
        domain = recipient_domain(request.to_address)
        offers = {
            offer.mailbox_id: (offer, mailbox)
            for offer, mailbox in (
                _offer(session, mailbox_id, request, window, domain, default_caps, len(candidates))
                for mailbox_id in candidates
            )
        }
        chosen, mailbox = offers[choose([offer for offer, _ in offers.values()]).mailbox_id]
        _take(session, request, chosen, mailbox, domain)
        if assigned is None:
            session.exec(  # type: ignore[call-overload]
                update(Enrollment)
                .where(col(Enrollment.id) == request.enrollment_id)
                .values(mailbox_id=chosen.mailbox_id)
            )
        session.commit()
        return chosen.slot


def _held(session: Session, key: str) -> datetime | None:
    return session.exec(select(SlotReservation.slot_at).where(SlotReservation.key == key)).first()


def _offer(
    session: Session,
    mailbox_id: int,
    request: ReserveSlotRequest,
    window: Window,
    domain: str,
    default_caps: DomainCaps | None,
    pool_size: int,
) -> tuple[Offer, Mailbox]:
    """The slot this mailbox would give the message (nothing taken yet); its day's count
    only matters to break a tie within a pool."""
    mailbox, workspace = session.exec(
        select(Mailbox, Workspace)
        .join(Workspace, col(Workspace.id) == Mailbox.workspace_id)
        .where(Mailbox.id == mailbox_id)
    ).one()
    limits = mailbox_limits(mailbox)
    earliest = request.not_before
    if mailbox.throttled_until is not None and mailbox.throttled_until > earliest:
        earliest = mailbox.throttled_until  # the provider's rate limit holds until then
    own_days = days_off(
        mailbox.holiday_calendar, mailbox.blackout_dates, local_date(earliest, limits.zone_name)
    )
    window = without_days(window, own_days, limits.zone_name)
    caps = workspace_caps(workspace, default_caps)
    load = None
    if caps is not None:
        cap = caps.for_domain(domain)
        capped = Cap(cap.hourly, cap.daily)

        def load(first_day: date) -> DomainLoad:
            return _domain_load(session, mailbox_id, domain, capped, limits.zone_name, first_day)

    slot = allocate(session, MAILBOX_BOOK, mailbox_id, limits, earliest, window, load)
    offer = Offer(
        mailbox_id,
        slot,
        _count_on(session, mailbox_id, local_date(slot, limits.zone_name)) if pool_size > 1 else 0,
        mailbox.connection_state == MailboxConnection.CONNECTED,
    )
    return offer, mailbox


def _domain_load(
    session: Session,
    mailbox_id: int,
    domain: str,
    cap: Cap,
    zone_name: str,
    first_day: date,
) -> DomainLoad:
    """The mailbox's held and used slots to ``domain`` from the day before ``first_day``
    on (a UTC hour may reach back into it)."""
    since = first_day - timedelta(days=1)
    taken = session.exec(
        select(SlotReservation.slot_at).where(
            SlotReservation.mailbox_id == mailbox_id,
            SlotReservation.to_domain == domain,
            col(SlotReservation.released_at).is_(None),
            SlotReservation.slot_day >= since,
        )
    )
    return DomainLoad.of(cap, zone_name, taken)


def _count_on(session: Session, mailbox_id: int, day: date) -> int:
    return session.exec(
        select(func.count()).where(
            SlotReservation.mailbox_id == mailbox_id,
            col(SlotReservation.released_at).is_(None),
            SlotReservation.slot_day == day,
        )
    ).one()


def _take(
    session: Session, request: ReserveSlotRequest, chosen: Offer, mailbox: Mailbox, domain: str
) -> None:
    limits = mailbox_limits(mailbox)
    row: dict[str, Any] = {
        "key": request.key,
        "mailbox_id": chosen.mailbox_id,
        "enrollment_id": request.enrollment_id,
        "position": request.position,
        "slot_at": chosen.slot,
        "slot_day": local_date(chosen.slot, limits.zone_name),
        "to_domain": domain,
    }
    session.exec(insert(SlotReservation).values(row))  # type: ignore[call-overload]
    log_unsent(
        session,
        request.enrollment_id,
        request.position,
        request.to_address,
        chosen.slot,
        MessageStatus.WAITING,
        UNSENT,
        lambda: {
            "message_id": make_message_id(
                request.enrollment_id, request.position, mailbox.from_address, request.to_address
            )
        },
    )
