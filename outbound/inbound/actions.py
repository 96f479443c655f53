"""What an inbound message does to the sequence it is about: staged in the caller's transaction.

* a reply records the halt (the last look before MAIL FROM reads it, so even a
  send in flight stops everything after it) and signals the workflow;
* a bounce marks our message Bounced with its reason; what else happens is
  read from the reasons table shared with SMTP answers
  (``outbound.mail.outcomes.reported_outcome``): a dead address is suppressed
  and the step goes to the next address (and the mailbox's reputation is judged:
  ``outbound.store.reputation``); our authentication, sender address
  or relaying park the mailbox (its sequences wait for the user, as after the
  same SMTP answer); a rate limit throttles the mailbox; anything else is
  recorded and never condemns the address;
* a success report marks the message Delivered;
* a complaint, and Apple Mail's unsubscribe, opt the address out (after the
  commit, through ``outbound.tracking.optout``);
* an auto-reply that states a return date (``return_date``) pauses the
  sequence until the day after it (the ``out_of_office`` signal);
* a notice the classifier could not read is recorded with its bytes for a
  person; the sequence goes on, as it does after an auto-reply without a
  return date or a delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session

from outbound.domain.inbound import BouncedRecipient, InboundKind, InboundMessage
from outbound.domain.sequence import InboundReply, LateBounce, OutOfOffice
from outbound.domain.statuses import (
    MailboxConnection,
    MessageStatus,
    ProspectStatus,
    SuppressionSource,
)
from outbound.inbound.match import Match
from outbound.inbound.return_date import return_date
from outbound.mail.outcomes import Outcome, reported_outcome
from outbound.mail.reasons import Reason
from outbound.scheduling.deferrals import rate_limit_lifts_at
from outbound.store.reputation import HARD_BOUNCE_REASON, ReputationLimits, sending_mailbox_of
from outbound.store.reputation import check as check_reputation
from outbound.store.suppressions import stage_suppression
from outbound.store.tables import Enrollment, Mailbox, Message


class InboundOutcome(BaseModel):
    """What one inbound message did (the webhook's answer; logged by inbox sync)."""

    kind: InboundKind
    duplicate: bool = False
    campaign_id: int | None = None
    prospect_id: int | None = None
    matched_by: str | None = None
    action: str


@dataclass(frozen=True)
class Plan:
    """What to do once the database says what happened: a signal, or an opt-out."""

    outcome: InboundOutcome
    workflow_id: str | None = None
    signal: str | None = None
    payload: BaseModel | None = None
    opt_out_row: int | None = None
    opt_out_source: SuppressionSource = SuppressionSource.UNSUBSCRIBE


_RECORDED = {
    InboundKind.AUTO_REPLY: "auto-reply recorded; the sequence goes on",
    InboundKind.DELAYED: "delivery delayed, not a bounce; the sequence goes on",
    InboundKind.UNRECOGNISED_NOTICE: (
        "a notice from a mail system that could not be read; kept for a person to look at, "
        "and the sequence goes on"
    ),
}


def decide(
    session: Session,
    mailbox_id: int,
    message: InboundMessage,
    key: str,
    found: Match | None,
    reputation: ReputationLimits,
) -> Plan:
    """Stage the database changes for ``message`` and say what to do next (not committed);
    ``reputation``: the guard's limits, which a hard bounce is judged by."""
    if found is None:
        return Plan(InboundOutcome(kind=message.kind, action="no matching sequence; ignored"))
    enrollment, sent = found.enrollment, found.message
    outcome = InboundOutcome(
        kind=message.kind,
        campaign_id=enrollment.campaign_id,
        prospect_id=enrollment.prospect_id,
        matched_by=found.matched_by,
        action="recorded",
    )
    if message.kind is InboundKind.REPLY:
        return _reply(session, message, key, enrollment, outcome)
    if message.kind is InboundKind.AUTO_REPLY and not ProspectStatus(enrollment.status).is_terminal:
        return _auto_reply(message, key, enrollment, outcome)
    if sent is not None and message.kind is InboundKind.BOUNCE:
        return _bounce(session, mailbox_id, message, key, enrollment, sent, outcome, reputation)
    if sent is not None and message.kind is InboundKind.DELIVERED:
        if sent.status == MessageStatus.SENT:
            sent.status = MessageStatus.DELIVERED.value
            session.add(sent)
        return Plan(outcome.model_copy(update={"action": "delivery reported: Delivered"}))
    if sent is not None and message.kind in (InboundKind.COMPLAINT, InboundKind.UNSUBSCRIBE):
        complaint = message.kind is InboundKind.COMPLAINT
        what = "complaint" if complaint else "unsubscribe by mail"
        return Plan(
            outcome.model_copy(
                update={"action": f"{what}: address suppressed, sequences to it OptedOut"}
            ),
            opt_out_row=sent.id,
            opt_out_source=SuppressionSource.COMPLAINT
            if complaint
            else SuppressionSource.UNSUBSCRIBE,
        )
    return Plan(outcome.model_copy(update={"action": _RECORDED.get(message.kind, "recorded")}))


def _reply(
    session: Session,
    message: InboundMessage,
    key: str,
    enrollment: Enrollment,
    outcome: InboundOutcome,
) -> Plan:
    if enrollment.halt_status is None and not ProspectStatus(enrollment.status).is_terminal:
        enrollment.halt_status = ProspectStatus.REPLIED.value
    if enrollment.replied_at is None:
        enrollment.replied_at = message.sent_at
        enrollment.reply_snippet = message.snippet[:200] or None
    session.add(enrollment)
    return Plan(
        outcome.model_copy(update={"action": "reply: the sequence stops"}),
        enrollment.workflow_id,
        "reply_received",
        InboundReply(key=key, received_at=message.sent_at, snippet=message.snippet),
    )


def _auto_reply(
    message: InboundMessage, key: str, enrollment: Enrollment, outcome: InboundOutcome
) -> Plan:
    """Out of office until a date: the sequence waits until the day after it (the first
    day back is left to the inbox), then takes a new slot. No date (or one already past,
    in an old message read late): recorded, and the sequence goes on."""
    now = datetime.now(UTC)
    back = return_date(f"{message.text}\n\n{message.subject}", message.sent_at or now)
    resume_on = back + timedelta(days=1) if back else None
    if back is None or resume_on is None or resume_on <= now.date():
        return Plan(outcome.model_copy(update={"action": _RECORDED[InboundKind.AUTO_REPLY]}))
    return Plan(
        outcome.model_copy(
            update={
                "action": f"out of office, back on {back.isoformat()}: "
                f"paused until {resume_on.isoformat()}"
            }
        ),
        enrollment.workflow_id,
        "out_of_office",
        OutOfOffice(key=key, resume_on=resume_on),
    )


def _bounce(
    session: Session,
    mailbox_id: int,
    message: InboundMessage,
    key: str,
    enrollment: Enrollment,
    sent: Message,
    outcome: InboundOutcome,
    reputation: ReputationLimits,
) -> Plan:
    failed = failure_for(message, sent.to_address)
    said = " ".join(p for p in (failed.status, failed.diagnostic) if p) or message.why
    reason = said[:500]
    sent.status, sent.failure_reason = MessageStatus.BOUNCED.value, reason
    session.add(sent)
    judged = reported_outcome(_reason(failed.reason), failed.hard)
    if judged is Outcome.HARD_BOUNCE:
        # Logged as the send activity logs a hard bounce, which the reputation guard counts.
        sent.failure_reason = (HARD_BOUNCE_REASON + reason)[:500]
        stage_suppression(
            session, enrollment.workspace_id, sent.to_address, SuppressionSource.HARD_BOUNCE, reason
        )
        # Judged on the mailbox that sent it (a pool's, where the report reaches another).
        sender = sending_mailbox_of(session, enrollment.id or 0) or mailbox_id
        paused = check_reputation(session, sender, reputation)
        action = f"hard bounce ({reason}): address suppressed"
        if paused is not None:
            action += f"; the mailbox is paused for its reputation ({paused})"
        return Plan(
            outcome.model_copy(update={"action": action[:500]}),
            enrollment.workflow_id,
            "late_bounce",
            LateBounce(key=key, message_id=sent.message_id, address=sent.to_address, reason=reason),
        )
    mailbox = session.get(Mailbox, mailbox_id)
    if judged is Outcome.SENDER_POLICY and mailbox is not None:
        if mailbox.connection_state != MailboxConnection.PAUSED_REPUTATION:
            mailbox.connection_state = MailboxConnection.NEEDS_REAUTH.value
        mailbox.connection_problem = f"a bounce report about our sending: {said}"[:500]
        session.add(mailbox)
        action = (
            f"sender-side bounce ({failed.reason}: {reason}): the mailbox waits for the user "
            "to fix it; the address is not suppressed"
        )
    elif judged is Outcome.RATE_LIMITED and mailbox is not None:
        lifts_at = rate_limit_lifts_at(datetime.now(UTC), daily=False, zone_name=mailbox.time_zone)
        if mailbox.throttled_until is None or mailbox.throttled_until < lifts_at:
            mailbox.throttled_until = lifts_at
            session.add(mailbox)
        action = f"rate-limit bounce ({reason}): the mailbox holds its sends for an hour"
    else:
        action = f"bounce recorded ({failed.reason}: {reason}); the address is not suppressed"
    return Plan(outcome.model_copy(update={"action": action}))


def failure_for(message: InboundMessage, address: str) -> BouncedRecipient:
    """The report about ``address`` (else the first one; else an unknown failure)."""
    for bounce in message.bounces:
        if bounce.address.lower() == address.lower():
            return bounce
    if message.bounces:
        return message.bounces[0]
    return BouncedRecipient(address=address, permanent=True)


def _reason(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        return Reason.UNDEFINED
