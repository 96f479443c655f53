"""The SMS activities: hand one step's text to the provider at most once, and the
SMS sender's slots and settled statuses (the logic of those lives in the store).

``send_sms`` renders the step's text on the template budget before any write
(a template over its budget or refused by the sandbox fails the step for good),
then takes a last look in the database: the sequence stopped or replied
(``Halted``), the number suppressed (``SmsOptedOut``: the message is Opted Out,
nothing is sent), the sender parked (``SenderParked``). Only then is the
hand-over recorded and committed (the message ``Sending``, its attempt counted,
``handed_over_at`` set), and only then is the provider called.

Never twice: an attempt that finds an earlier hand-over does not call the
provider again, whether or not that one got an answer; it returns the message
as it stands (``already_sent``). A message refused before it went (Failed,
Opted Out) may be tried again, through the same last look. The status callback
is addressed by our message id (``/sms/status/{message_id}``), so it finds the
message even when the provider's answer, with its sid, was lost; if none comes,
the workflow settles it ``Timed Out``. A transient error raised before the
request reached the provider (connection refused, 429, 5xx) clears the hand-over
and is retried; a timeout, after which the provider may have taken the message,
counts as handed over.

The provider's answers: 21610 suppresses the number (source ``sms_stop``) and
makes the message Opted Out; any other refusal makes it Failed with the
provider's code and reason; refused credentials park the sender. No secret is
in any payload, log line or error text (the token stays in ``SmsCredentials``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from outbound.activities.delivery import LATE_TOLERANCE, refusal, slot_missed, wall_clock
from outbound.domain.sequence import FailureType, SendFailure
from outbound.domain.sms_sequence import (
    ReleaseSmsSlotRequest,
    ReserveSmsSlotRequest,
    SendSmsRequest,
    SendSmsResult,
    SettleSmsRequest,
)
from outbound.domain.statuses import MailboxConnection, MessageStatus, SuppressionSource
from outbound.observability import metrics
from outbound.scheduling.quiet_hours import NoCommonHours
from outbound.settings import Settings
from outbound.sms.lifecycle import from_provider
from outbound.sms.provider import (
    ProviderCredentials,
    SmsAuthFailed,
    SmsError,
    SmsOptedOut,
    SmsProvider,
    SmsRejected,
    SmsTransient,
)
from outbound.sms.twilio_provider import TwilioProvider
from outbound.sms.webhook_auth import status_callback_url
from outbound.store import slots
from outbound.store.encryption import Keyring
from outbound.store.sms_messages import apply_sms_status, find_sms
from outbound.store.sms_senders import park_sms_sender, sender_credentials
from outbound.store.suppressions import find_suppression, suppress
from outbound.store.tables import Campaign, Enrollment, Message, Prospect, SmsSender, Step
from outbound.templating.budget import Budget, TemplateTooExpensive
from outbound.templating.context import prospect_context
from outbound.templating.render import MissingField, UnsafeTemplate, render

_log = logging.getLogger(__name__)
EARLY_WAIT_LIMIT = timedelta(seconds=30)  # a slot is handed over at most this early
SENDER_DISCONNECTED = "SenderDisconnected"
_HANDED_OVER = (
    MessageStatus.SENDING.value,
    MessageStatus.SENT.value,
    MessageStatus.DELIVERED.value,
    MessageStatus.ASSUMED_DELIVERED.value,
)


@dataclass(frozen=True)
class Claimed:
    """A text this attempt has handed over (committed) and must now give the provider."""

    row_id: int
    message_id: str
    workspace_id: int
    body: str
    credentials: ProviderCredentials


class SmsActivities:
    """``send_sms``, ``settle_sms`` and the SMS sender's slots; given the engine, the
    settings and (tests) a provider and a clock, no globals.

    >>> activities = SmsActivities(engine, settings)  # Twilio at settings.sms_api_base_url
    >>> worker_activities = [activities.send_sms, activities.settle_sms]
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        provider: SmsProvider | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self._engine = engine
        self._keyring = Keyring.from_settings(settings)
        self._provider = provider or TwilioProvider(settings.sms_api_base_url)
        self._public_base_url = settings.public_base_url
        self._clock = clock

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendSmsRequest) -> SendSmsResult:
        """Hand step ``request.position``'s text over unless an earlier attempt did."""
        if request.scheduled_at is not None:  # handed over a moment early: wait for the slot
            early = min(request.scheduled_at - self._clock(), EARLY_WAIT_LIMIT)
            if early > timedelta(0):
                await asyncio.sleep(early.total_seconds())
        claimed = await asyncio.to_thread(self.claim, request)
        if isinstance(claimed, SendSmsResult):
            return claimed
        try:
            receipt = await asyncio.to_thread(
                self._provider.send,
                claimed.credentials,
                to=request.to_number,
                body=claimed.body,
                status_callback=status_callback_url(self._public_base_url, claimed.message_id),
            )
        except SmsError as error:
            metrics.sms_sends.labels(outcome="refused").inc()
            outcome = await asyncio.to_thread(self._after_error, request, claimed, error)
            if isinstance(outcome, SendSmsResult):
                return outcome
            raise outcome from None
        metrics.sms_sends.labels(outcome="sent").inc()
        status = from_provider(receipt.status) or MessageStatus.SENDING
        row = await asyncio.to_thread(
            apply_sms_status, self._engine, claimed.message_id, status, None, receipt.sid
        )
        _log.info("SMS %s handed over as %s", claimed.message_id, receipt.sid)
        return SendSmsResult(
            provider_sid=receipt.sid, status=row.status if row is not None else status
        )

    @activity.defn(name="settle_sms")
    async def settle_sms(self, request: SettleSmsRequest) -> None:
        """Record a status the workflow decided, unless a report advanced past it."""
        message_id = slots.sms_message_id(
            request.enrollment_id, request.position, request.to_number
        )
        await asyncio.to_thread(
            apply_sms_status, self._engine, message_id, request.status, request.reason
        )

    @activity.defn(name="reserve_sms_slot")
    async def reserve_sms_slot(self, request: ReserveSmsSlotRequest) -> datetime:
        """The SMS sender's slot for one text (the same one again for a retried request).

        Hours that never meet (the sender's, the campaign's, the recipient's legal ones)
        are a permanent ``NoLegalHours`` refusal, not retried.
        """
        try:
            slot = await asyncio.to_thread(slots.reserve_sms_slot, self._engine, request)
        except NoCommonHours as error:
            raise ApplicationError(
                f"the sender's hours never meet the recipient's legal hours ({error})",
                type=FailureType.NO_LEGAL_HOURS,
                non_retryable=True,
            ) from None
        metrics.slots_reserved.labels(channel="sms").inc()
        return slot

    @activity.defn(name="release_sms_slot")
    async def release_sms_slot(self, request: ReleaseSmsSlotRequest) -> None:
        """Give an SMS slot back; a Queued message becomes the status asked for."""
        await asyncio.to_thread(slots.release_sms_slot, self._engine, request)

    def claim(self, request: SendSmsRequest) -> Claimed | SendSmsResult:
        """Render, take the last look and record the hand-over; or the earlier outcome.

        Public, like ``DeliveryActivities.prepare``, so a test can take a step alone.
        """
        message_id = slots.sms_message_id(
            request.enrollment_id, request.position, request.to_number
        )
        credentials = sender_credentials(self._engine, self._keyring, request.sender_id)
        with Session(self._engine, expire_on_commit=False) as session:
            logged = find_sms(session, message_id)
            earlier = None if logged is None else _earlier_outcome(logged)
            if earlier is not None:
                return earlier
            enrollment, campaign, prospect = session.exec(
                select(Enrollment, Campaign, Prospect)
                .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
                .join(Prospect, col(Prospect.id) == Enrollment.prospect_id)
                .where(Enrollment.id == request.enrollment_id)
            ).one()
            step = session.exec(
                select(Step).where(
                    Step.campaign_id == campaign.id, Step.position == request.position
                )
            ).one()
            context = prospect_context(prospect.model_dump(), prospect.fields, None)
            try:
                body = render(step.body, context, Budget())
            except (TemplateTooExpensive, UnsafeTemplate, MissingField) as error:
                raise _template_refused(session, logged, error) from None
            # The writes of this send begin here, after the render.
            if enrollment.halt_status is not None:
                raise refusal(
                    FailureType.HALTED,
                    f"not sent: the sequence was {enrollment.halt_status}",
                    SendFailure(ends_as=enrollment.halt_status),
                )
            now = self._clock()
            if request.scheduled_at is not None and now - request.scheduled_at > LATE_TOLERANCE:
                raise slot_missed(f"the slot at {request.scheduled_at:%F %T} UTC has passed")
            if logged is None:
                logged = Message(
                    enrollment_id=request.enrollment_id,
                    position=request.position,
                    to_address=request.to_number,
                    message_id=message_id,
                    channel="sms",
                    status=MessageStatus.QUEUED.value,
                )
                session.add(logged)
                session.flush()
            entry = find_suppression(session, campaign.workspace_id, request.to_number)
            if entry is not None:
                _fail(session, logged, MessageStatus.OPTED_OUT, f"suppressed ({entry.source})")
                raise refusal(
                    FailureType.SMS_OPTED_OUT, f"the number is suppressed ({entry.source})"
                )
            sender = session.get_one(SmsSender, request.sender_id)
            if sender.connection_state != MailboxConnection.CONNECTED:
                problem = sender.connection_problem or "the sender needs new credentials"
                _fail(session, logged, MessageStatus.FAILED, f"{SENDER_DISCONNECTED}: {problem}")
                raise refusal(FailureType.SENDER_PARKED, problem)
            assert logged.id is not None
            claimed = session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(
                    col(Message.id) == logged.id,
                    col(Message.handed_over_at).is_(None),
                    col(Message.status).not_in(_HANDED_OVER),
                )
                .values(
                    status=MessageStatus.SENDING.value,
                    attempts=col(Message.attempts) + 1,
                    handed_over_at=now,
                    failure_reason=None,
                )
            ).rowcount
            session.commit()
            if not claimed:  # another attempt of this send handed it over meanwhile
                session.refresh(logged)
                return _earlier_outcome(logged) or SendSmsResult(
                    provider_sid=None, status=MessageStatus.SENDING, already_sent=True
                )
            return Claimed(
                logged.id,
                message_id,
                campaign.workspace_id,
                body,
                ProviderCredentials(
                    credentials.account_sid,
                    credentials.auth_token,
                    from_number=credentials.from_number,
                    messaging_service_sid=credentials.messaging_service_sid,
                ),
            )

    def _after_error(
        self, request: SendSmsRequest, claimed: Claimed, error: SmsError
    ) -> SendSmsResult | ApplicationError:
        """Record what the provider's error means; the result to return or error to raise."""
        reason = error.reason[:500]
        with Session(self._engine) as session:
            logged = session.get_one(Message, claimed.row_id)
            if isinstance(error, SmsTransient):
                if _may_have_arrived(error):
                    _log.warning("SMS %s: %s; counted as handed over", claimed.message_id, reason)
                    return SendSmsResult(provider_sid=None, status=MessageStatus.SENDING)
                _fail(session, logged, MessageStatus.RETRYING, reason)
                return ApplicationError(reason, type=FailureType.SMS_TRANSIENT)
            if isinstance(error, SmsOptedOut):
                _fail(session, logged, MessageStatus.OPTED_OUT, reason)
                suppress(
                    session,
                    claimed.workspace_id,
                    request.to_number,
                    SuppressionSource.SMS_STOP.value,
                    reason,
                )
                return refusal(FailureType.SMS_OPTED_OUT, reason)
            if isinstance(error, SmsAuthFailed):
                _fail(session, logged, MessageStatus.FAILED, f"{SENDER_DISCONNECTED}: {reason}")
                park_sms_sender(session, session.get_one(SmsSender, request.sender_id), reason)
                return refusal(FailureType.SENDER_PARKED, reason)
            kind = FailureType.SMS_REJECTED if isinstance(error, SmsRejected) else "SmsError"
            _fail(session, logged, MessageStatus.FAILED, reason)
            return refusal(kind, reason)


def _earlier_outcome(logged: Message) -> SendSmsResult | None:
    """What an earlier attempt handed over (never handed over again); None when the text
    may go (never handed over: queued, retrying, or refused before it went)."""
    if logged.handed_over_at is None and logged.status not in _HANDED_OVER:
        return None
    return SendSmsResult(
        provider_sid=logged.provider_sid, status=MessageStatus(logged.status), already_sent=True
    )


def _may_have_arrived(error: SmsTransient) -> bool:
    """A timeout once the request was sent: the provider may have taken the message."""
    cause = error.__cause__
    if isinstance(cause, requests.Timeout):
        return not isinstance(cause, requests.ConnectTimeout)
    return error.reason.startswith("timeout")


def _fail(session: Session, logged: Message, status: MessageStatus, reason: str) -> None:
    """The message did not go (and is not being handed over): ``status``, with why."""
    logged.status, logged.failure_reason = status.value, reason[:500]
    logged.handed_over_at = None
    session.add(logged)
    session.commit()


def _template_refused(
    session: Session, logged: Message | None, error: Exception
) -> ApplicationError:
    """The step fails for good: the message log says why (a short write after the render)."""
    if isinstance(error, TemplateTooExpensive):
        kind, reason = FailureType.TEMPLATE_TOO_EXPENSIVE, str(error)
    else:
        kind, reason = FailureType.TEMPLATE_REFUSED, f"the template is refused: {error}"
    if logged is not None:
        _fail(session, logged, MessageStatus.FAILED, f"{kind}: {reason}")
    return refusal(kind, reason)
