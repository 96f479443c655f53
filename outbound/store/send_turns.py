"""The physical minimum gap: one atomic claim per send, per mailbox.

Slots are already at least the gap apart, but a send can start a little after
its slot. Before talking to SMTP the send claims the mailbox's turn with a
conditional UPDATE: it succeeds only if the last send started at least the gap
ago (or was this same message, whose retries may go on). The check and the
claim are one statement, so concurrent workers cannot both pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col

from outbound.store.tables import Mailbox


def claim_send_turn(
    session: Session, mailbox_id: int, key: str, now: datetime, gap: timedelta
) -> datetime | None:
    """Claim the turn (None), or say when the gap allows this send (the time to wait for)."""
    claimed = session.exec(  # type: ignore[call-overload]
        update(Mailbox)
        .where(
            col(Mailbox.id) == mailbox_id,
            or_(
                col(Mailbox.last_send_at).is_(None),
                col(Mailbox.last_send_at) <= now - gap,
                col(Mailbox.last_send_key) == key,
            ),
        )
        .values(last_send_at=now, last_send_key=key)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        return None
    mailbox = session.get_one(Mailbox, mailbox_id)
    assert mailbox.last_send_at is not None
    return mailbox.last_send_at + gap
