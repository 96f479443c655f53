"""Sending mailboxes: create, list, show. The password is write-only."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from outbound.api.deps import SessionDep
from outbound.domain.mailboxes import MailboxCreate, MailboxPublic
from outbound.domain.problems import not_found
from outbound.domain.schedule import Weekday
from outbound.store.tables import Mailbox

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])

_DAY_NAMES = [day.value for day in Weekday]


def mailbox_public(mailbox: Mailbox) -> MailboxPublic:
    """The API shape: ``has_password`` instead of the password."""
    assert mailbox.id is not None
    return MailboxPublic(
        id=mailbox.id,
        smtp_host=mailbox.smtp_host,
        smtp_port=mailbox.smtp_port,
        tls_mode=mailbox.tls_mode,
        username=mailbox.username,
        from_name=mailbox.from_name,
        from_address=mailbox.from_address,
        time_zone=mailbox.time_zone,
        daily_limit=mailbox.daily_limit,
        min_gap_seconds=mailbox.min_gap_seconds,
        send_days=[Weekday(_DAY_NAMES[d]) for d in mailbox.send_days],
        send_start=mailbox.send_start,
        send_end=mailbox.send_end,
        plus_addressing=mailbox.plus_addressing,
        has_password=bool(mailbox.smtp_password),
        created_at=mailbox.created_at,
    )


@router.post("", status_code=201)
def create_mailbox(body: MailboxCreate, session: SessionDep) -> MailboxPublic:
    """Connect a mailbox that campaigns send through."""
    mailbox = Mailbox(
        **body.model_dump(exclude={"password", "send_days"}),
        send_days=[day.number for day in body.send_days],
        smtp_password=body.password.get_secret_value() if body.password else None,
    )
    session.add(mailbox)
    session.commit()
    session.refresh(mailbox)
    return mailbox_public(mailbox)


@router.get("")
def list_mailboxes(session: SessionDep) -> list[MailboxPublic]:
    """All mailboxes."""
    return [mailbox_public(m) for m in session.exec(select(Mailbox).order_by(col(Mailbox.id)))]


@router.get("/{mailbox_id}")
def get_mailbox(mailbox_id: int, session: SessionDep) -> MailboxPublic:
    """One mailbox."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise not_found("mailbox", mailbox_id)
    return mailbox_public(mailbox)
