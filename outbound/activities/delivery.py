"""The send activity: render, compose and deliver one step, at most once.

Limits: a send more than ``LATE_TOLERANCE`` after its slot, or on another
mailbox day, is refused as ``SlotMissed`` (the workflow takes a new slot), so
a worker outage never turns into a burst; and the gap between two sends of a
mailbox is enforced at send time (``outbound.store.send_turns``).

Idempotency: the message log row for (enrollment, step) is the key. A retry
that finds the row already Sent returns the recorded result without touching
SMTP. The Message-ID is fixed per (enrollment, step), so even a retry after an
unknown outcome (worker killed between the server's 250 and our commit) reuses
it and providers discard the duplicate.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from outbound.domain.sequence import SendStepRequest, SendStepResult
from outbound.domain.statuses import MessageStatus, ThreadMode, TlsMode
from outbound.mail.compose import (
    OutgoingMessage,
    compose,
    envelope_sender,
    make_message_id,
    reply_subject,
)
from outbound.mail.outcomes import Classified, Outcome
from outbound.mail.smtp import SendFailed, SmtpAccount, send_message
from outbound.scheduling.slots import MailboxLimits
from outbound.scheduling.windows import local_date
from outbound.settings import Settings
from outbound.store.send_turns import claim_send_turn
from outbound.store.slots import mailbox_limits
from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, Prospect, Step
from outbound.templating.context import prospect_context
from outbound.templating.render import render_message

LATE_TOLERANCE = timedelta(minutes=2)
_MESSAGE_STATUS_AFTER = {
    Outcome.TRANSIENT: MessageStatus.RETRYING,
    Outcome.RATE_LIMITED: MessageStatus.WAITING,
    Outcome.HARD_BOUNCE: MessageStatus.BOUNCED,
}
SLOT_MISSED = "SlotMissed"


def slot_missed(reason: str) -> ApplicationError:
    """Non-retryable: the workflow must reserve a new slot, not retry this one."""
    return ApplicationError(reason, type=SLOT_MISSED, non_retryable=True)


@dataclass(frozen=True)
class _Prepared:
    """A message ready to go, or the record that it already went."""

    account: SmtpAccount | None
    email: EmailMessage | None
    result: SendStepResult | None
    limits: MailboxLimits | None = None
    mailbox_id: int = 0
    envelope_from: str | None = None


class DeliveryActivities:
    """Activities that talk to SMTP; given the engine and settings, no globals."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name="send_step")
    async def send_step(self, request: SendStepRequest) -> SendStepResult:
        """Send step ``request.position`` of an enrollment unless it was already sent."""
        prepared = await asyncio.to_thread(self._prepare, request)
        if prepared.result is not None:
            return prepared.result
        assert prepared.account is not None and prepared.email is not None
        if request.scheduled_at is not None:
            await self._take_turn(request, prepared)
        await asyncio.to_thread(self._mark_sending, request)
        try:
            await send_message(prepared.account, prepared.email, prepared.envelope_from)
        except SendFailed as failed:
            classified = failed.classified
            await asyncio.to_thread(self._record_failure, request, classified)
            # Only a transient failure is retried here. An unknown outcome (maybe
            # delivered) must never be resent blindly; the rest need a decision.
            raise ApplicationError(
                classified.reason,
                type=classified.outcome.value,
                non_retryable=classified.outcome is not Outcome.TRANSIENT,
            ) from None
        return await asyncio.to_thread(self._record_sent, request)

    def _prepare(self, request: SendStepRequest) -> _Prepared:
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            if logged is not None and logged.status == MessageStatus.SENT:
                assert logged.sent_at is not None
                return _Prepared(
                    None,
                    None,
                    SendStepResult(
                        message_id=logged.message_id,
                        subject=logged.subject,
                        sent_at=logged.sent_at,
                        already_sent=True,
                    ),
                )
            enrollment = session.get_one(Enrollment, request.enrollment_id)
            campaign = session.get_one(Campaign, enrollment.campaign_id)
            mailbox = session.get_one(Mailbox, campaign.mailbox_id)
            prospect = session.get_one(Prospect, enrollment.prospect_id)
            steps = {
                s.position: s
                for s in session.exec(select(Step).where(Step.campaign_id == campaign.id))
            }
            step = steps[request.position]
            context = prospect_context(prospect.model_dump(), prospect.fields, request.to_address)
            rendered = render_message(step.subject, step.body, context)
            subject = rendered.subject
            if request.thread_mode is ThreadMode.SAME_THREAD:
                subject = reply_subject(_thread_subject(session, request, steps, context))
            message_id = make_message_id(
                request.enrollment_id, request.position, mailbox.from_address, request.to_address
            )
            email = compose(
                OutgoingMessage(
                    from_name=mailbox.from_name,
                    from_address=mailbox.from_address,
                    to_address=request.to_address,
                    subject=subject,
                    body=rendered.body,
                    message_id=message_id,
                    date=datetime.now(UTC),
                    unsubscribe_url=f"{self._settings.public_base_url}/unsubscribe/{message_id.strip('<>')}",
                    references=request.previous_message_ids,
                )
            )
            if logged is None:
                logged = Message(
                    enrollment_id=request.enrollment_id,
                    position=request.position,
                    to_address=request.to_address,
                    message_id=message_id,
                    status=MessageStatus.WAITING,
                )
            logged.subject, logged.to_address = subject, request.to_address
            logged.scheduled_at = request.scheduled_at
            logged.envelope_from = envelope_sender(
                mailbox.from_address, message_id, mailbox.plus_addressing
            )
            session.add(logged)
            session.commit()
            account = SmtpAccount(
                host=mailbox.smtp_host,
                port=mailbox.smtp_port,
                tls_mode=TlsMode(mailbox.tls_mode),
                username=mailbox.username,
                password=mailbox.smtp_password,
            )
            return _Prepared(
                account,
                email,
                None,
                mailbox_limits(mailbox),
                mailbox.id or 0,
                logged.envelope_from,
            )

    async def _take_turn(self, request: SendStepRequest, prepared: _Prepared) -> None:
        """Refuse a missed slot; wait out the gap if the previous send was just now."""
        assert request.scheduled_at is not None and prepared.limits is not None
        zone_name = prepared.limits.zone_name
        key = request.slot_key or f"{request.enrollment_id}:{request.position}"
        while True:
            now = datetime.now(UTC)
            late = now - request.scheduled_at
            if late > LATE_TOLERANCE or local_date(now, zone_name) != local_date(
                request.scheduled_at, zone_name
            ):
                raise slot_missed(f"send started {late} after its slot")
            allowed_at = await asyncio.to_thread(
                claim_send_turn,
                self._engine,
                prepared.mailbox_id,
                key,
                now,
                prepared.limits.min_gap,
            )
            if allowed_at is None:
                return
            wait = (allowed_at - now).total_seconds()
            if allowed_at - request.scheduled_at > LATE_TOLERANCE:
                raise slot_missed("another send of this mailbox is too close to this slot")
            await asyncio.sleep(max(wait, 0.0))

    def _mark_sending(self, request: SendStepRequest) -> None:
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            assert logged is not None
            logged.status, logged.attempts = MessageStatus.SENDING, logged.attempts + 1
            logged.failure_reason = None
            session.add(logged)
            session.commit()

    def _record_sent(self, request: SendStepRequest) -> SendStepResult:
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            assert logged is not None
            logged.status, logged.sent_at = MessageStatus.SENT, datetime.now(UTC)
            session.add(logged)
            session.commit()
            assert logged.sent_at is not None
            return SendStepResult(
                message_id=logged.message_id, subject=logged.subject, sent_at=logged.sent_at
            )

    def _record_failure(self, request: SendStepRequest, classified: Classified) -> None:
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            if logged is None:
                return
            logged.status = _MESSAGE_STATUS_AFTER.get(
                classified.outcome, MessageStatus.FAILED
            ).value
            logged.failure_reason = f"{classified.outcome.value}: {classified.reason}"[:500]
            session.add(logged)
            session.commit()


def _logged_message(session: Session, request: SendStepRequest) -> Message | None:
    return session.exec(
        select(Message).where(
            Message.enrollment_id == request.enrollment_id,
            Message.position == request.position,
            Message.to_address == request.to_address,
        )
    ).first()


def _thread_subject(
    session: Session, request: SendStepRequest, steps: dict[int, Step], context: dict[str, str]
) -> str:
    """The subject of the message that opened this thread (the last new-thread step)."""
    opener = max(
        (
            p
            for p, s in steps.items()
            if p < request.position and s.thread_mode == ThreadMode.NEW_THREAD
        ),
        default=min(steps),
    )
    sent = session.exec(
        select(Message).where(
            Message.enrollment_id == request.enrollment_id,
            Message.position == opener,
            Message.to_address == request.to_address,
        )
    ).first()
    if sent is not None and sent.subject:
        return sent.subject
    return render_message(steps[opener].subject, "", context).subject
