"""SMS rows of the message log: statuses applied in any order, once.

Status callbacks (``api.routes.sms_webhooks``), the send activity and the
workflow's own decisions (``Timed Out``, ``AssumedDelivered``) all change an SMS
row through ``apply_sms_status``, which keeps a status only if it advances the
message (``sms.lifecycle``): a late ``sent`` never undoes ``delivered``, a
repeated report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from outbound.domain.statuses import MessageStatus
from outbound.sms.lifecycle import advances
from outbound.store.tables import Message

_WENT_OUT = frozenset(
    {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.ASSUMED_DELIVERED}
)


@dataclass(frozen=True)
class SmsRow:
    """What a caller needs of an SMS row after a change (no session attached)."""

    id: int
    enrollment_id: int
    position: int
    to_number: str
    status: MessageStatus
    reason: str | None
    provider_sid: str | None
    changed: bool


def find_sms(session: Session, message_id: str) -> Message | None:
    """The SMS row with our ``message_id`` (the status callback's URL names it)."""
    return session.exec(
        select(Message).where(Message.message_id == message_id, Message.channel == "sms")
    ).first()


def apply_sms_status(
    engine: Engine,
    message_id: str,
    status: MessageStatus,
    reason: str | None = None,
    provider_sid: str | None = None,
    at: datetime | None = None,
) -> SmsRow | None:
    """Apply ``status`` to the SMS row if it advances it (and learn its ``provider_sid``).

    None when there is no such SMS row. ``at`` is when the provider said it was
    sent (``sent_at`` is set on the first status at or past Sent).
    """
    with Session(engine) as session:
        message = find_sms(session, message_id)
        if message is None:
            return None
        changed = False
        if provider_sid and message.provider_sid is None:
            message.provider_sid, changed = provider_sid, True
        if advances(message.status, message.failure_reason, status, reason):
            message.status, changed = status.value, True
            message.failure_reason = reason if status is MessageStatus.FAILED else None
            if status in _WENT_OUT and message.sent_at is None:
                message.sent_at = at or datetime.now(UTC)
        if changed:
            session.add(message)
            session.commit()
            session.refresh(message)
        assert message.id is not None
        return SmsRow(
            id=message.id,
            enrollment_id=message.enrollment_id,
            position=message.position,
            to_number=message.to_address,
            status=MessageStatus(message.status),
            reason=message.failure_reason,
            provider_sid=message.provider_sid,
            changed=changed,
        )


def sms_rows_to(session: Session, enrollment_ids: list[int], number: str) -> list[Message]:
    """SMS rows of these enrollments to ``number``, oldest first."""
    return list(
        session.exec(
            select(Message)
            .where(
                col(Message.enrollment_id).in_(enrollment_ids),
                Message.channel == "sms",
                Message.to_address == number,
            )
            .order_by(col(Message.id))
        )
    )
