"""A mailbox's sending plan: its warm-up ramp and its days off (holidays, blackout dates)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from outbound.api.auth import ADMIN_ONLY
from outbound.api.deps import SessionDep
from outbound.domain.days_off import DaysOff, MailboxSendingPlan, WarmUpPlan
from outbound.domain.problems import not_found
from outbound.scheduling.windows import local_date
from outbound.store.slots import mailbox_limits
from outbound.store.tables import Mailbox

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])


def _mailbox(session: SessionDep, mailbox_id: int) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise not_found("mailbox", mailbox_id)
    return mailbox


def sending_plan(mailbox: Mailbox, now: datetime | None = None) -> MailboxSendingPlan:
    """The plan as the API shows it."""
    assert mailbox.id is not None
    limits = mailbox_limits(mailbox)
    today = local_date(now or datetime.now(UTC), limits.zone_name)
    warmup = None
    if limits.warmup is not None:
        warmup = WarmUpPlan(
            start=limits.warmup.start,
            increment=limits.warmup.increment,
            started_on=limits.warmup.started_on,
        )
    return MailboxSendingPlan(
        mailbox_id=mailbox.id,
        daily_limit=mailbox.daily_limit,
        warmup=warmup,
        limit_today=limits.limit_on(today),
        full_limit_on=limits.warmup.full_on(mailbox.daily_limit) if limits.warmup else None,
        holiday_calendar=mailbox.holiday_calendar,
        blackout_dates=[datetime.fromisoformat(d).date() for d in mailbox.blackout_dates],
    )


@router.get("/{mailbox_id}/sending-plan")
def get_sending_plan(mailbox_id: int, session: SessionDep) -> MailboxSendingPlan:
    """The mailbox's warm-up ramp, today's limit, and its days off."""
    return sending_plan(_mailbox(session, mailbox_id))


@router.put("/{mailbox_id}/warmup", dependencies=[ADMIN_ONLY])
def put_warmup(mailbox_id: int, body: WarmUpPlan, session: SessionDep) -> MailboxSendingPlan:
    """Ramp the mailbox up: slots reserved from now on keep each day's ramped limit (slots
    already held stay)."""
    mailbox = _mailbox(session, mailbox_id)
    today = local_date(datetime.now(UTC), mailbox.time_zone)
    mailbox.warmup_start, mailbox.warmup_increment = body.start, body.increment
    mailbox.warmup_started_on = body.started_on or today
    session.add(mailbox)
    session.commit()
    return sending_plan(mailbox)


@router.delete("/{mailbox_id}/warmup", dependencies=[ADMIN_ONLY])
def delete_warmup(mailbox_id: int, session: SessionDep) -> MailboxSendingPlan:
    """End the ramp: the full daily limit from now on."""
    mailbox = _mailbox(session, mailbox_id)
    mailbox.warmup_start, mailbox.warmup_increment, mailbox.warmup_started_on = None, 0, None
    session.add(mailbox)
    session.commit()
    return sending_plan(mailbox)


@router.put("/{mailbox_id}/days-off", dependencies=[ADMIN_ONLY])
def put_days_off(mailbox_id: int, body: DaysOff, session: SessionDep) -> MailboxSendingPlan:
    """No slot of this mailbox falls on these days (its own calendar days), whatever the
    campaign; slots reserved from now on."""
    mailbox = _mailbox(session, mailbox_id)
    mailbox.holiday_calendar = body.holiday_calendar
    mailbox.blackout_dates = [d.isoformat() for d in body.blackout_dates]
    session.add(mailbox)
    session.commit()
    return sending_plan(mailbox)
