"""Which prospect's sequence an inbound message is about.

In order of trust: the thread (In-Reply-To / References, or the returned
message of a bounce or complaint) against the Message-IDs we sent; then the
VERP token of a plus-addressed Return-Path (a bounce's recipient, a
complaint's Original-Mail-From); then, for a complaint, the address that
complained among the messages this mailbox sent; then the sender's normalised
address among the mailbox's active sequences, never for mail a mail system
wrote about a delivery (its sender is not the prospect). The first two survive
forwarding, changed subjects and aliases, which is where the anchors' reply
tracking fails (seed 003); the last catches a reply written as a new message.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from outbound.domain.addresses import GMAIL_DOMAINS, normalise
from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.domain.statuses import ProspectStatus
from outbound.store.sending_mailbox import SENDING_MAILBOX_ID
from outbound.store.tables import Campaign, Enrollment, Message

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]
# Written by a mail system about a delivery: never matched by their sender.
_ABOUT_A_DELIVERY = frozenset(
    {InboundKind.BOUNCE, InboundKind.DELAYED, InboundKind.DELIVERED, InboundKind.COMPLAINT}
)


@dataclass(frozen=True)
class Match:
    """The enrollment, the message of ours it is about (if known), and how it was found."""

    enrollment: Enrollment
    message: Message | None
    matched_by: str


def match(session: Session, mailbox_id: int, message: InboundMessage) -> Match | None:
    """The sequence of this mailbox the message is about, or None (recorded and ignored)."""
    by_thread = _by_message_ids(session, mailbox_id, _thread_ids(message))
    if by_thread is not None:
        return by_thread
    envelopes = [*message.recipients]
    if message.complaint is not None and message.complaint.envelope_from:
        envelopes.append(message.complaint.envelope_from)
    by_verp = _by_envelope(session, mailbox_id, envelopes)
    if by_verp is not None:
        return by_verp
    if message.complaint is not None and message.complaint.address:
        return _by_recipient(session, mailbox_id, message.complaint.address)
    if message.kind in _ABOUT_A_DELIVERY:
        return None  # from the mail system or a feedback loop, not from the prospect
    return _by_sender(session, mailbox_id, message.sender)


def _thread_ids(message: InboundMessage) -> list[str]:
    """Message-IDs that tie it to ours, the most specific first."""
    ordered = [*message.original_message_ids, *message.in_reply_to, *reversed(message.references)]
    return list(dict.fromkeys(i.strip() for i in ordered if i.strip()))


def _by_message_ids(session: Session, mailbox_id: int, ids: list[str]) -> Match | None:
    if not ids:
        return None
    rows = session.exec(
        select(Message, Enrollment)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(col(Message.message_id).in_(ids), mailbox_id == SENDING_MAILBOX_ID)
    ).all()
    found = {sent.message_id: (sent, enrollment) for sent, enrollment in rows}
    for message_id in ids:
        if message_id in found:
            sent, enrollment = found[message_id]
            return Match(enrollment, sent, "thread")
    return None


def _by_envelope(session: Session, mailbox_id: int, recipients: list[str]) -> Match | None:
    tokens = [r.lower() for r in recipients if "+b-" in r]
    if not tokens:
        return None
    row = session.exec(
        select(Message, Enrollment)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(col(Message.envelope_from).in_(tokens), mailbox_id == SENDING_MAILBOX_ID)
    ).first()
    return Match(row[1], row[0], "verp") if row is not None else None


def _by_recipient(session: Session, mailbox_id: int, address: str) -> Match | None:
    """The latest message this mailbox sent to ``address`` (in any spelling), whatever
    became of its sequence: a complaint can come after the sequence ended."""
    return _latest_to(session, mailbox_id, address, "complained address", active_only=False)


def _by_sender(session: Session, mailbox_id: int, sender: str | None) -> Match | None:
    """The most recent message to this person from this mailbox, among active sequences."""
    if not sender or "@" not in sender:
        return None
    return _latest_to(session, mailbox_id, sender, "sender", active_only=True)


def _latest_to(
    session: Session, mailbox_id: int, address: str, matched_by: str, active_only: bool
) -> Match | None:
    """The most recent message of this mailbox sent to ``address`` in any spelling (the
    domain in lower case; for Gmail, dots and +tags ignored)."""
    wanted = normalise(address)
    domain = wanted.rpartition("@")[2]
    domains = GMAIL_DOMAINS if domain == "gmail.com" else {domain}
    conditions: list[ColumnElement[bool]] = [
        mailbox_id == SENDING_MAILBOX_ID,
        col(Message.sent_at).is_not(None),
        or_(*(func.lower(Message.to_address).like(f"%@{d}") for d in domains)),
    ]
    if active_only:
        conditions.append(col(Enrollment.status).not_in(_ENDED))
    candidates = session.exec(
        select(Message, Enrollment)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(*conditions)
        .order_by(col(Message.sent_at).desc())
        .limit(500)
    ).all()
    for sent, enrollment in candidates:
        if normalise(sent.to_address) == wanted:
            return Match(enrollment, sent, matched_by)
    return None
