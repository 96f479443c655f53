"""One inbound message, from raw bytes to its effect: the single path for IMAP and webhook.

Classify, record once (the mailbox's ``InboundEvent`` table is the
de-duplication: a message seen twice acts once), match it to a sequence,
then act: a reply records the halt (the last look before MAIL FROM reads it,
so even a send in flight stops everything after it) and signals the
workflow; a bounce marks our message Bounced with the code and diagnostic,
and a hard one (5.1.x, 5.2.1) suppresses the address and signals the
workflow to send the step elsewhere. Auto-replies, delays and unmatched mail
are recorded and change nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound.domain.inbound import BouncedRecipient, InboundKind, InboundMessage
from outbound.domain.sequence import InboundReply, LateBounce
from outbound.domain.statuses import MessageStatus, ProspectStatus
from outbound.inbound.classify import classify
from outbound.inbound.match import Match, match
from outbound.store.suppressions import stage_suppression
from outbound.store.tables import Campaign, Enrollment, InboundEvent, Message
from outbound.tracking.message_links import UNSUBSCRIBE_SUBJECT
from outbound.tracking.optout import opt_out
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose

_UNSUBSCRIBE_SUBJECT = re.compile(rf"\b{UNSUBSCRIBE_SUBJECT}\s+([A-Za-z0-9_.-]+)", re.IGNORECASE)


class InboundOutcome(BaseModel):
    """What one inbound message did (the webhook's answer; logged by inbox sync)."""

    kind: InboundKind
    duplicate: bool = False
    campaign_id: int | None = None
    prospect_id: int | None = None
    matched_by: str | None = None
    action: str


@dataclass(frozen=True)
class _Plan:
    """What to signal once the database says what happened."""

    outcome: InboundOutcome
    workflow_id: str | None = None
    signal: str | None = None
    payload: BaseModel | None = None


def unsubscribe_target(signer: LinkSigner, subject: str) -> LinkTarget | None:
    """The message a "unsubscribe <token>" subject names, if the token is genuine."""
    found = _UNSUBSCRIBE_SUBJECT.search(subject)
    return signer.read(Purpose.UNSUBSCRIBE, found.group(1)) if found else None


def is_hard_bounce(status: str | None) -> bool:
    """5.1.x (no such user, bad domain) and 5.2.1 (mailbox disabled): the address is dead.

    5.2.2 (mailbox full) and the rest say nothing lasting about the address.
    """
    return status is not None and (status.startswith("5.1.") or status == "5.2.1")


def dedup_key(message: InboundMessage, raw: bytes) -> str:
    """Its Message-ID (the same message by IMAP and webhook), else a hash of its bytes."""
    if message.message_id:
        return message.message_id.strip()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


async def handle_inbound(
    engine: Engine,
    client: Client,
    mailbox_id: int,
    raw: bytes,
    source: str,
    signer: LinkSigner | None = None,
) -> InboundOutcome:
    """Classify, record, match and act on one message. Raises ``MalformedMessage``.

    A message whose subject carries one of our unsubscribe tokens (the
    List-Unsubscribe mailto) is an opt-out, whoever sends it: the token, not
    the sender, names the message and so the address.
    """
    message = classify(raw)
    opting_out = unsubscribe_target(signer, message.subject) if signer else None
    if opting_out is not None:
        message = message.model_copy(
            update={"kind": InboundKind.UNSUBSCRIBE, "why": "List-Unsubscribe mailto token"}
        )
    plan = await asyncio.to_thread(_record, engine, mailbox_id, message, raw, source)
    if opting_out is not None:
        await opt_out(engine, client, opting_out, "mailto")
        return plan.outcome
    if plan.workflow_id is not None and plan.signal is not None and plan.payload is not None:
        try:
            await client.get_workflow_handle(plan.workflow_id).signal(plan.signal, plan.payload)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise  # retried by the caller: the event is recorded, the signal not yet
            return plan.outcome.model_copy(
                update={"action": plan.outcome.action + " (the sequence had already ended)"}
            )
    return plan.outcome


def _record(
    engine: Engine, mailbox_id: int, message: InboundMessage, raw: bytes, source: str
) -> _Plan:
    key = dedup_key(message, raw)
    with Session(engine) as session:
        event = InboundEvent(
            mailbox_id=mailbox_id,
            dedup_key=key,
            source=source,
            kind=message.kind.value,
            why=message.why,
            message_id=message.message_id,
            sender=message.sender,
            subject=message.subject[:500],
            snippet=message.snippet[:200],
        )
        session.add(event)
        try:
            session.flush()  # claims the key first: a second copy changes nothing here
        except IntegrityError:
            session.rollback()
            return _again(session, mailbox_id, message, key)
        found = match(session, mailbox_id, message)
        plan = _decide(session, message, key, found)
        event.enrollment_id = found.enrollment.id if found else None
        event.matched_by = found.matched_by if found else None
        event.action = plan.outcome.action
        session.add(event)
        session.commit()
        return plan


def _again(session: Session, mailbox_id: int, message: InboundMessage, key: str) -> _Plan:
    """A message already processed: change nothing, but signal again. The workflow drops a
    repeated key, and a signal lost the first time (a crash after the commit) arrives now."""
    found = match(session, mailbox_id, message)
    plan = _decide(session, message, key, found)
    session.rollback()
    duplicate = plan.outcome.model_copy(update={"duplicate": True, "action": "already processed"})
    return _Plan(duplicate, plan.workflow_id, plan.signal, plan.payload)


def _decide(session: Session, message: InboundMessage, key: str, found: Match | None) -> _Plan:
    """Stage the database changes for ``message`` and say what to signal (not yet committed)."""
    if found is None:
        return _Plan(InboundOutcome(kind=message.kind, action="no matching sequence; ignored"))
    enrollment = found.enrollment
    outcome = InboundOutcome(
        kind=message.kind,
        campaign_id=enrollment.campaign_id,
        prospect_id=enrollment.prospect_id,
        matched_by=found.matched_by,
        action="recorded",
    )
    if message.kind is InboundKind.REPLY:
        return _reply(session, message, key, enrollment, outcome)
    if message.kind is InboundKind.BOUNCE and found.message is not None:
        return _bounce(session, message, key, enrollment, found.message, outcome)
    what = {
        InboundKind.UNSUBSCRIBE: "unsubscribe by mail: address suppressed, sequences stopped",
        InboundKind.AUTO_REPLY: "auto-reply recorded; the sequence goes on",
        InboundKind.DELAYED: "delivery delayed, not a bounce; the sequence goes on",
    }.get(message.kind, "recorded")
    return _Plan(outcome.model_copy(update={"action": what}))


def _reply(
    session: Session,
    message: InboundMessage,
    key: str,
    enrollment: Enrollment,
    outcome: InboundOutcome,
) -> _Plan:
    if enrollment.halt_status is None and not ProspectStatus(enrollment.status).is_terminal:
        enrollment.halt_status = ProspectStatus.REPLIED.value
    if enrollment.replied_at is None:
        enrollment.replied_at = message.sent_at
        enrollment.reply_snippet = message.snippet[:200] or None
    session.add(enrollment)
    return _Plan(
        outcome.model_copy(update={"action": "reply: the sequence stops"}),
        enrollment.workflow_id,
        "reply_received",
        InboundReply(key=key, received_at=message.sent_at, snippet=message.snippet),
    )


def _bounce(
    session: Session,
    message: InboundMessage,
    key: str,
    enrollment: Enrollment,
    sent: Message,
    outcome: InboundOutcome,
) -> _Plan:
    failed = _failure_for(message, sent.to_address)
    reason = " ".join(p for p in (failed.status, failed.diagnostic) if p) or message.why
    sent.status, sent.failure_reason = MessageStatus.BOUNCED.value, reason[:500]
    session.add(sent)
    if not is_hard_bounce(failed.status):
        return _Plan(outcome.model_copy(update={"action": f"bounce recorded ({reason})"}))
    owner = session.get_one(Campaign, enrollment.campaign_id).owner
    stage_suppression(session, owner, sent.to_address, "hard_bounce", reason[:500])
    return _Plan(
        outcome.model_copy(update={"action": f"hard bounce ({reason}): address suppressed"}),
        enrollment.workflow_id,
        "late_bounce",
        LateBounce(key=key, message_id=sent.message_id, address=sent.to_address, reason=reason),
    )


def _failure_for(message: InboundMessage, address: str) -> BouncedRecipient:
    """The report about ``address`` (else the first one; else an unknown permanent failure)."""
    for bounce in message.bounces:
        if bounce.address.lower() == address.lower():
            return bounce
    if message.bounces:
        return message.bounces[0]
    return BouncedRecipient(address=address, permanent=True)
