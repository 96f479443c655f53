"""SMS senders in the store: made from a request, changed, parked, and their credentials.

The auth token is stored encrypted (``outbound.store.encryption``) and decrypted
only by :func:`sender_credentials`, for the worker that sends; nothing returned
by the API and nothing logged holds it.

Usage::

    with Session(engine) as session:
        sender = create_sms_sender(session, workspace_id, body, keyring)
    account_sid, auth_token, from_number, service = sender_credentials(
        engine, keyring, sender.id
    )
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from outbound.domain.problems import FieldProblem, Problem, ProblemError
from outbound.domain.schedule import Weekday, window_from
from outbound.domain.sms_senders import (
    SmsSenderCreate,
    SmsSenderUpdate,
    SmsSenderView,
    check_sender,
)
from outbound.domain.statuses import MailboxConnection
from outbound.scheduling.slots import MailboxLimits
from outbound.store.encryption import Keyring
from outbound.store.tables import Campaign, SmsSender, SmsSenderGrant, SmsSlotReservation

# Changing one of these means new credentials: a parked sender may try again.
_CREDENTIALS = ("account_sid", "auth_token")
# Fields checked together after an update.
_JOINED = ("from_number", "messaging_service_sid", "send_start", "send_end")
_DAY_NAMES = [day.value for day in Weekday]


class SmsCredentials(NamedTuple):
    """What the provider needs to send from the sender; the token shows as ``***``."""

    account_sid: str
    auth_token: str
    from_number: str | None
    messaging_service_sid: str | None

    def __repr__(self) -> str:
        return (
            f"SmsCredentials(account_sid={self.account_sid!r}, auth_token='***', "
            f"from_number={self.from_number!r}, "
            f"messaging_service_sid={self.messaging_service_sid!r})"
        )


def create_sms_sender(
    session: Session, workspace_id: int, body: SmsSenderCreate, keyring: Keyring
) -> SmsSender:
    """Store a new sender, its token encrypted (commits)."""
    sender = SmsSender(
        **body.model_dump(exclude={"auth_token", "send_days", "provider"}),
        provider=body.provider.value,
        workspace_id=workspace_id,
        send_days=[day.number for day in body.send_days],
        auth_token_encrypted=keyring.encrypt(body.auth_token.get_secret_value()),
    )
    session.add(sender)
    session.commit()
    session.refresh(sender)
    return sender


def update_sms_sender(
    session: Session, sender: SmsSender, body: SmsSenderUpdate, keyring: Keyring
) -> SmsSender:
    """Apply the fields given (commits); 422 naming the field if the result breaks a rule
    that joins fields (one of number and messaging service, the window's order)."""
    given = body.model_fields_set
    changes = body.model_dump(include=given, exclude={"auth_token", "send_days"})
    if "send_days" in given and body.send_days is not None:
        changes["send_days"] = [day.number for day in body.send_days]
    merged = {name: changes.get(name, getattr(sender, name)) for name in _JOINED}
    try:
        check_sender(**merged)
    except FieldProblem as problem:
        raise ProblemError(422, [Problem(field=problem.field, reason=problem.reason)]) from None
    for name, value in changes.items():
        setattr(sender, name, value)
    if body.auth_token is not None:
        sender.auth_token_encrypted = keyring.encrypt(body.auth_token.get_secret_value())
    if given & set(_CREDENTIALS):
        sender.connection_state = MailboxConnection.CONNECTED.value
        sender.connection_problem = None
    session.add(sender)
    session.commit()
    session.refresh(sender)
    return sender


def sms_sender_in_use(session: Session, sender_id: int) -> str | None:
    """Why the sender cannot be deleted now, or None: a campaign names it (whatever its
    status: its message log and metrics refer to the sender), or messages are queued on it."""
    campaign_id = session.exec(
        select(Campaign.id).where(Campaign.sms_sender_id == sender_id).limit(1)
    ).first()
    if campaign_id is not None:
        return f"campaign {campaign_id} sends through this sender; it cannot be deleted"
    queued = session.exec(
        select(SmsSlotReservation.id).where(
            SmsSlotReservation.sender_id == sender_id,
            col(SmsSlotReservation.released_at).is_(None),
            SmsSlotReservation.slot_at >= datetime.now(UTC),
        )
    ).first()
    if queued is not None:
        return "messages are queued on this sender; stop their campaigns first"
    return None


def delete_sms_sender(session: Session, sender: SmsSender) -> None:
    """Delete the sender with its grants and its slot book (commits); the message log
    keeps what was sent. Check :func:`sms_sender_in_use` first."""
    session.exec(delete(SmsSenderGrant).where(col(SmsSenderGrant.sender_id) == sender.id))  # type: ignore[call-overload]
    session.exec(  # type: ignore[call-overload]
        delete(SmsSlotReservation).where(col(SmsSlotReservation.sender_id) == sender.id)
    )
    session.delete(sender)
    session.commit()


def park_sms_sender(session: Session, sender: SmsSender, problem: str) -> None:
    """Mark the sender as needing new credentials, saying why (commits)."""
    sender.connection_state = MailboxConnection.NEEDS_REAUTH.value
    sender.connection_problem = problem[:500]
    session.add(sender)
    session.commit()


def sender_credentials(engine: Engine, keyring: Keyring, sender_id: int) -> SmsCredentials:
    """The sender's credentials with its token decrypted (for the worker only)."""
    with Session(engine) as session:
        sender = session.get_one(SmsSender, sender_id)
        return SmsCredentials(
            account_sid=sender.account_sid,
            auth_token=keyring.decrypt(sender.auth_token_encrypted),
            from_number=sender.from_number,
            messaging_service_sid=sender.messaging_service_sid,
        )


def sms_sender_limits(sender: SmsSender) -> MailboxLimits:
    """The pure-code limits of a stored sender: the gap is one message's share of a second."""
    window = window_from(sender.send_days, sender.send_start, sender.send_end, sender.time_zone)
    return MailboxLimits(
        zone_name=sender.time_zone,
        daily_limit=sender.daily_limit,
        min_gap=timedelta(seconds=1 / sender.per_second),
        window=window.to_window(),
        spread=False,  # texts go at the sender's rate, in batches (seed 004)
    )


def sms_sender_view(sender: SmsSender) -> SmsSenderView:
    """The API shape: ``has_auth_token`` instead of the token."""
    assert sender.id is not None
    return SmsSenderView.model_validate(
        {
            **sender.model_dump(exclude={"auth_token_encrypted", "send_days"}),
            "send_days": [_DAY_NAMES[d] for d in sender.send_days],
            "has_auth_token": bool(sender.auth_token_encrypted),
        }
    )
