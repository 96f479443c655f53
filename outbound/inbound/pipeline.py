"""One inbound message, from raw bytes to its effect: the single path for IMAP and webhook.

Classify, record once (the mailbox's ``InboundEvent`` table is the
de-duplication: a message seen twice acts once), match it to a sequence,
then act (``actions``): a reply stops the sequence, a bounce marks the
message Bounced and acts on its reason, a success report marks it Delivered,
a complaint opts the address out, a notice that could not be read is kept
with its bytes for a person. Bytes that are not a message raise
``MalformedMessage`` (the webhook answers 400); inbox sync records them with
``record_unreadable`` and moves on.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.inbound.actions import InboundOutcome, Plan, decide
from outbound.inbound.classify import classify
from outbound.inbound.match import match
from outbound.inbound.mime_bounds import MAX_READ_BYTES
from outbound.observability import metrics
from outbound.store.reputation import ReputationLimits
from outbound.store.tables import InboundEvent
from outbound.tracking.message_links import UNSUBSCRIBE_SUBJECT
from outbound.tracking.optout import opt_out
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose

__all__ = ["InboundOutcome", "dedup_key", "handle_inbound", "record_unreadable"]

_UNSUBSCRIBE_SUBJECT = re.compile(rf"\b{UNSUBSCRIBE_SUBJECT}\s+([A-Za-z0-9_.-]+)", re.IGNORECASE)
# Kinds whose bytes are kept on the event, for a person to read what was not understood.
_KEPT_RAW = frozenset({InboundKind.UNRECOGNISED_NOTICE, InboundKind.UNREADABLE})


def unsubscribe_target(signer: LinkSigner, subject: str) -> LinkTarget | None:
    """The message a "unsubscribe <token>" subject names, if the token is genuine."""
    found = _UNSUBSCRIBE_SUBJECT.search(subject)
    return signer.read(Purpose.UNSUBSCRIBE, found.group(1)) if found else None


def dedup_key(message: InboundMessage | None, raw: bytes) -> str:
    """Its Message-ID (the same message by IMAP and webhook), else a hash of its bytes."""
    if message is not None and message.message_id:
        return message.message_id.strip()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


async def handle_inbound(
    engine: Engine,
    client: Client,
    mailbox_id: int,
    raw: bytes,
    source: str,
    signer: LinkSigner | None = None,
    *,
    reputation: ReputationLimits,
) -> InboundOutcome:
    """Classify, record, match and act on one message. Raises ``MalformedMessage``.

    ``reputation``: the reputation guard's limits, which a hard bounce or a complaint is
    judged by (``outbound.store.reputation``).

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
    metrics.inbound_messages.labels(kind=message.kind.value).inc()
    plan = await asyncio.to_thread(_record, engine, mailbox_id, message, raw, source, reputation)
    if opting_out is not None:
        await opt_out(engine, client, opting_out, "mailto")
        return plan.outcome
    if plan.opt_out_row is not None:
        via = f"{message.kind.value} by mail ({message.why})"[:200]
        await opt_out(
            engine, client, plan.opt_out_row, via, plan.opt_out_source, reputation=reputation
        )
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


def record_unreadable(engine: Engine, mailbox_id: int, raw: bytes, source: str, why: str) -> None:
    """Keep bytes inbox sync read but could not take as a message (or as one within the
    limits), once, for a person to look at; the poll goes on past them."""
    with Session(engine) as session:
        session.add(
            InboundEvent(
                mailbox_id=mailbox_id,
                dedup_key=dedup_key(None, raw),
                source=source,
                kind=InboundKind.UNREADABLE.value,
                why=why[:500],
                action="not read: kept for a person to look at",
                raw=raw[:MAX_READ_BYTES],
            )
        )
        try:
            session.commit()
        except IntegrityError:  # seen before
            session.rollback()


def _record(
    engine: Engine,
    mailbox_id: int,
    message: InboundMessage,
    raw: bytes,
    source: str,
    reputation: ReputationLimits,
) -> Plan:
    key = dedup_key(message, raw)
    with Session(engine) as session:
        event = InboundEvent(
            mailbox_id=mailbox_id,
            dedup_key=key,
            source=source,
            kind=message.kind.value,
            why=message.why[:500],
            reason=_reason_of(message),
            message_id=message.message_id,
            sender=message.sender,
            subject=message.subject[:500],
            snippet=message.snippet[:200],
            raw=raw[:MAX_READ_BYTES] if message.kind in _KEPT_RAW else None,
        )
        session.add(event)
        try:
            session.flush()  # claims the key first: a second copy changes nothing here
        except IntegrityError:
            session.rollback()
            return _again(session, mailbox_id, message, key, reputation)
        found = match(session, mailbox_id, message)
        plan = decide(session, mailbox_id, message, key, found, reputation)
        event.enrollment_id = found.enrollment.id if found else None
        event.matched_by = found.matched_by if found else None
        event.action = plan.outcome.action
        session.add(event)
        session.commit()
        return plan


def _reason_of(message: InboundMessage) -> str | None:
    if message.complaint is not None:
        return message.complaint.feedback_type[:40]
    return message.bounces[0].reason if message.bounces else None


def _again(
    session: Session,
    mailbox_id: int,
    message: InboundMessage,
    key: str,
    reputation: ReputationLimits,
) -> Plan:
    """A message already processed: change nothing, but signal again. The workflow drops a
    repeated key, and a signal lost the first time (a crash after the commit) arrives now.
    An opt-out is done again too: doing it twice changes nothing."""
    found = match(session, mailbox_id, message)
    plan = decide(session, mailbox_id, message, key, found, reputation)
    session.rollback()
    duplicate = plan.outcome.model_copy(update={"duplicate": True, "action": "already processed"})
    return Plan(
        duplicate,
        plan.workflow_id,
        plan.signal,
        plan.payload,
        plan.opt_out_row,
        plan.opt_out_source,
    )
