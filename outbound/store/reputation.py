"""The reputation guard: a mailbox whose last sends bounce or draw complaints too often is
paused (``paused_reputation``) before its provider suspends it; a user resumes it.

The figures of a mailbox are read over its last ``window_sends`` email messages that
reached a server (accepted, or bounced) since its last resume, newest first by when they
went (the time the server accepted it; for a message refused at once, the slot of the
attempt). A hard bounce is a message Bounced for good: its reason reads
``hard_bounce: …``, written by the send activity on the server's answer
(``activities/delivery.py``) and by a late bounce report (``inbound/actions.py``). A
complaint is a message with a ``complaint`` event (an abuse report:
``tracking/optout.py``). Rates are counted over ``max(sends, min_sends)``, so a young
mailbox is not paused by its first bounce, while 6 hard bounces among its first 100
sends are 6%.

``check`` runs in the transaction that records a hard bounce or a complaint, so the pause
commits with the record that caused it. The sequences of a paused mailbox wait without
any change to their workflows: the send's last look refuses a mailbox that is not
connected (``FailureType.MAILBOX_PARKED``, with the connection version), and the
workflow waits for a newer version. ``resume`` bumps it; the route
(``api/routes/mailbox_reputation.py``) signals the sequences (``mailbox_reconnected``),
as a reconnect does. A reconnect alone leaves the pause (``store/mailboxes.reconnect``),
and a pool gives a paused mailbox no new prospects (``store/mailbox_slots.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_
from sqlmodel import Session, col, select

from outbound.domain.mailboxes import MailboxReputation
from outbound.domain.statuses import MailboxConnection, MessageStatus
from outbound.mail.outcomes import Outcome
from outbound.observability import metrics
from outbound.settings import Settings
from outbound.store.sending_mailbox import SENDING_MAILBOX_ID
from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, TrackingEvent

HARD_BOUNCE_REASON = f"{Outcome.HARD_BOUNCE.value}: "
"""How the message log's reason of a hard bounce begins (SMTP answer or bounce report)."""

_WENT_AT: Any = func.coalesce(Message.sent_at, Message.scheduled_at, Message.created_at)
_REACHED_A_SERVER = or_(
    col(Message.sent_at).is_not(None), col(Message.status) == MessageStatus.BOUNCED.value
)
_HARD_BOUNCE = and_(
    col(Message.status) == MessageStatus.BOUNCED.value,
    col(Message.failure_reason).startswith(HARD_BOUNCE_REASON.strip(), autoescape=True),
)
_COMPLAINED = exists().where(
    col(TrackingEvent.message_row_id) == col(Message.id), col(TrackingEvent.kind) == "complaint"
)


@dataclass(frozen=True)
class ReputationLimits:
    """The guard's settings (``OUTBOUND_REPUTATION_*``)."""

    window_sends: int = 200
    min_sends: int = 100
    max_hard_bounce_rate: float = 0.05
    max_complaint_rate: float = 0.003

    @classmethod
    def from_settings(cls, settings: Settings) -> ReputationLimits:
        return cls(
            window_sends=settings.reputation_window_sends,
            min_sends=settings.reputation_min_sends,
            max_hard_bounce_rate=settings.reputation_max_hard_bounce_rate,
            max_complaint_rate=settings.reputation_max_complaint_rate,
        )


def figures(session: Session, mailbox: Mailbox, limits: ReputationLimits) -> MailboxReputation:
    """The mailbox's last sends and how they fared (one query)."""
    conditions = [
        mailbox.id == SENDING_MAILBOX_ID,
        Message.channel == "email",
        _REACHED_A_SERVER,
    ]
    if mailbox.reputation_since is not None:
        conditions.append(mailbox.reputation_since < _WENT_AT)
    window = (
        select(
            case((_HARD_BOUNCE, 1), else_=0).label("hard"),
            case((_COMPLAINED, 1), else_=0).label("complained"),
        )
        .select_from(Message)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(*conditions)
        .order_by(_WENT_AT.desc(), col(Message.id).desc())
        .limit(limits.window_sends)
        .subquery()
    )
    sends, hard, complaints = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(window.c.hard), 0),
            func.coalesce(func.sum(window.c.complained), 0),
        ).select_from(window)
    ).one()
    over = max(sends, limits.min_sends)
    return MailboxReputation(
        window_sends=limits.window_sends,
        min_sends=limits.min_sends,
        sends=sends,
        hard_bounces=hard,
        complaints=complaints,
        hard_bounce_rate=hard / over,
        complaint_rate=complaints / over,
        max_hard_bounce_rate=limits.max_hard_bounce_rate,
        max_complaint_rate=limits.max_complaint_rate,
        counted_since=mailbox.reputation_since,
    )


def verdict(seen: MailboxReputation) -> str | None:
    """Why these figures pause the mailbox, in words; None if they do not."""
    of_last = f"of the last {seen.sends} sends"
    if seen.sends < seen.min_sends:
        of_last += f", counted over at least {seen.min_sends}"
    found = []
    if seen.hard_bounce_rate > seen.max_hard_bounce_rate:
        found.append(
            f"hard bounces: {seen.hard_bounces} {of_last} ({_percent(seen.hard_bounce_rate)}, "
            f"over {_percent(seen.max_hard_bounce_rate)})"
        )
    if seen.complaint_rate > seen.max_complaint_rate:
        found.append(
            f"complaints: {seen.complaints} {of_last} ({_percent(seen.complaint_rate)}, "
            f"over {_percent(seen.max_complaint_rate)})"
        )
    return "; ".join(found) or None


def check(session: Session, mailbox_id: int, limits: ReputationLimits) -> str | None:
    """Pause the mailbox if its figures are over a limit, in the caller's transaction (not
    committed); returns the reason when this call paused it.

    Called right after a hard bounce or a complaint is staged (the session flushes it
    before the figures are read). A mailbox waiting for re-authentication is paused too
    (its problem stays shown): new credentials do not mend a reputation."""
    # The mailbox's row is locked first (PostgreSQL): two bounces recorded at once are
    # judged one after the other, the second seeing the first.
    mailbox = session.get(Mailbox, mailbox_id, with_for_update=True, populate_existing=True)
    if mailbox is None or mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION:
        return None
    reason = verdict(figures(session, mailbox, limits))
    if reason is None:
        return None
    mailbox.connection_state = MailboxConnection.PAUSED_REPUTATION.value
    mailbox.paused_reason = reason[:500]
    session.add(mailbox)
    metrics.reputation_pauses.inc()
    return reason


def sending_mailbox_of(session: Session, enrollment_id: int) -> int | None:
    """The mailbox an enrollment's email goes from."""
    return session.exec(
        select(SENDING_MAILBOX_ID)
        .select_from(Enrollment)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(Enrollment.id == enrollment_id)
    ).first()


def resume(session: Session, mailbox: Mailbox, now: datetime | None = None) -> int:
    """Let a paused mailbox send again with a fresh window (commits); returns the new
    connection version, which the waiting sequences are signalled with (the caller checks
    that the guard paused it).

    Sends before the resume no longer count: otherwise the first bounce after it would
    pause the mailbox again at once. The new window starts after the latest send already
    counted even when that is later than ``now`` (a worker's clock ahead of this one)."""
    latest = session.exec(
        select(func.max(_WENT_AT))
        .select_from(Message)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(mailbox.id == SENDING_MAILBOX_ID, Message.channel == "email", _REACHED_A_SERVER)
    ).one()
    since = now or datetime.now(UTC)
    mailbox.reputation_since = max(since, latest) if latest is not None else since
    # A mailbox parked for re-authentication before or during the pause (its problem is
    # still shown: a reconnect clears it) goes back to waiting for new credentials.
    mailbox.connection_state = (
        MailboxConnection.NEEDS_REAUTH.value
        if mailbox.connection_problem
        else MailboxConnection.CONNECTED.value
    )
    mailbox.paused_reason = None
    mailbox.connection_version += 1
    session.add(mailbox)
    session.commit()
    return mailbox.connection_version


def paused_refusal(mailbox: Mailbox) -> str:
    """What a send or a Start refused on a paused mailbox says."""
    return (
        f"mailbox {mailbox.id} is paused for its sending reputation ({mailbox.paused_reason}); "
        f"once the cause is fixed, resume it with POST /mailboxes/{mailbox.id}/resume"
    )


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"
