"""The send activity: render, compose and deliver one step, at most once.

Limits: a send more than ``LATE_TOLERANCE`` after its slot, or on another
mailbox day, is refused as ``SlotMissed`` (the workflow takes a new slot), so
a worker outage never turns into a burst; and the gap between two sends of a
mailbox is enforced at send time (``outbound.store.send_turns``).

Idempotency: the message log row for (enrollment, step, address) is the key. A
retry that finds the row already Sent returns the recorded result without
touching SMTP. Sent is committed as soon as the server answers 250 (before
QUIT), and the moment the message starts to go (DATA) is recorded first: a
retry after a worker died before that point sends safely (the server drops an
unfinished transaction); one after it, with no answer recorded, may find the
message delivered, so it is not resent (the fault drill ``drills/worker_kills.py``
found the duplicate this prevents). Such an unknown outcome, and a dialogue cut
off after the final ".", is settled by the mailbox's Sent folder where the
mailbox has IMAP settings: a copy with our Message-ID there means Sent;
otherwise the step waits, Unconfirmed, for the user. The Message-ID is fixed
per (enrollment, step, address) all the same.

Last look: right before MAIL FROM one transaction re-reads what may have
changed since the workflow decided to send (a stop or reply the API recorded,
the suppression list, the mailbox's connection and rate-limit state) and only
then marks the message Sending. What a failure means for the mailbox (parked
for re-authentication, rate-limited until a time, paused by the reputation guard
after one hard bounce too many: ``store/reputation.py``) or the address
(suppressed after a hard bounce) is recorded here, where the SMTP answer is known.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from outbound.activities.heartbeat import heartbeating
from outbound.domain.sequence import FailureType, SendFailure, SendStepRequest, SendStepResult
from outbound.domain.statuses import MailboxConnection, MessageStatus, ThreadMode
from outbound.mail.compose import (
    OutgoingMessage,
    compose,
    envelope_sender,
    make_message_id,
    reply_subject,
)
from outbound.mail.hosts import HostPolicy, HostRefused
from outbound.mail.imap import ImapAccount, ImapError, find_sent_copy
from outbound.mail.outcomes import Classified, Outcome
from outbound.mail.smtp import SendFailed, SmtpAccount, send_message
from outbound.oauth.tokens import AccessTokens
from outbound.observability import metrics
from outbound.scheduling.deferrals import rate_limit_lifts_at
from outbound.scheduling.slots import MailboxLimits
from outbound.scheduling.windows import local_date
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.mailboxes import imap_account, smtp_account
from outbound.store.reputation import ReputationLimits, paused_refusal
from outbound.store.reputation import check as check_reputation
from outbound.store.send_turns import claim_send_turn
from outbound.store.sending_mailbox import SENDING_MAILBOX_ID
from outbound.store.slots import mailbox_limits
from outbound.store.suppressions import find_suppression, suppress
from outbound.store.tables import Campaign, Enrollment, Mailbox, Message, Prospect, Step
from outbound.store.webhooks import emit
from outbound.templating.budget import Budget, TemplateTooExpensive
from outbound.templating.context import UNSUBSCRIBE_VARIABLE, prospect_context
from outbound.templating.render import UnsafeTemplate, render_message
from outbound.tracking.message_links import (
    MessageLinks,
    store_links,
    stored_link_key,
    tracked_body,
)
from outbound.tracking.tokens import LinkSigner
from outbound.webhooks.dispatch import Dispatcher
from outbound.webhooks.events import needs_reauth

LATE_TOLERANCE = timedelta(minutes=2)
SENT_COPY_LOOKS = (timedelta(seconds=0), timedelta(seconds=5), timedelta(seconds=20))
"""Waits before each look for the Sent-folder copy of a message whose outcome is unknown."""
_log = logging.getLogger(__name__)
_MESSAGE_STATUS_AFTER = {
    Outcome.TRANSIENT: MessageStatus.RETRYING,
    Outcome.RATE_LIMITED: MessageStatus.WAITING,
    Outcome.AUTH_FAILED: MessageStatus.WAITING,
    Outcome.SENDER_POLICY: MessageStatus.WAITING,
    Outcome.MAILBOX_FULL: MessageStatus.RETRYING,
    Outcome.HARD_BOUNCE: MessageStatus.BOUNCED,
}
_PARKING = frozenset({Outcome.AUTH_FAILED, Outcome.SENDER_POLICY})
# A message the server accepted; a success report may since have made it Delivered.
_SENT_ALREADY = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED})


def slot_missed(reason: str) -> ApplicationError:
    """Non-retryable: the workflow must reserve a new slot, not retry this one."""
    return refusal(FailureType.SLOT_MISSED, reason)


def refusal(kind: str, reason: str, details: SendFailure | None = None) -> ApplicationError:
    """A send the workflow must decide about, never one Temporal should retry as is."""
    return ApplicationError(reason, details or SendFailure(), type=kind, non_retryable=True)


@dataclass(frozen=True)
class Prepared:
    """A message ready to go, or the record that it already went."""

    account: SmtpAccount | None
    email: EmailMessage | None
    result: SendStepResult | None
    limits: MailboxLimits | None = None
    mailbox_id: int = 0
    envelope_from: str | None = None
    workspace_id: int = 0
    cut_off: bool = False  # an earlier attempt handed the message over, then stopped
    message_row_id: int = 0
    message_id: str = ""
    subject: str = ""


def wall_clock() -> datetime:
    """The time a send really happens (UTC)."""
    return datetime.now(UTC)


class DeliveryActivities:
    """Activities that talk to SMTP; given the engine and settings, no globals.

    ``clock`` is the wall clock in production. Tests under Temporal's time
    skipping pass the server's virtual time instead, so that the slot check
    compares a slot with the moment its timer fired.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = wall_clock,
        tokens: AccessTokens | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._signer = LinkSigner.from_settings(settings)
        self._keyring = Keyring.from_settings(settings)  # passwords are loaded by mailbox id
        self._hosts = HostPolicy.from_settings(settings)
        self._clock = clock
        self._dispatcher = Dispatcher(settings)
        self._reputation = ReputationLimits.from_settings(settings)
        # OAuth mailboxes' access tokens, shared with the process's other activities
        self._tokens = tokens or AccessTokens(engine, settings, self._keyring, clock)

    @activity.defn(name="send_step")
    async def send_step(self, request: SendStepRequest) -> SendStepResult:
        """Send step ``request.position`` of an enrollment unless it was already sent."""
        async with heartbeating():
            return await self._send_step(request)

    async def _send_step(self, request: SendStepRequest) -> SendStepResult:
        prepared = await asyncio.to_thread(self.prepare, request)
        if prepared.result is not None:
            return prepared.result
        if prepared.cut_off:
            confirmed = await self._confirmed_in_sent_folder(request, prepared.mailbox_id)
            if confirmed is not None:
                return confirmed
            raise await asyncio.to_thread(self._give_up_unconfirmed, request)
        assert prepared.account is not None and prepared.email is not None
        looked = await self._take_turn_and_look(request, prepared)
        if looked is None:  # another attempt of this send finished it meanwhile
            again = await asyncio.to_thread(self.prepare, request)
            assert again.result is not None
            return again.result
        account, version, attempt = looked
        recorded: list[SendStepResult] = []

        async def handing_over() -> None:
            await asyncio.to_thread(self.mark_handed_over, prepared.message_row_id, attempt)

        async def accepted() -> None:
            recorded.append(await asyncio.to_thread(self.record_sent, prepared))

        try:
            with metrics.send_seconds.time():
                await send_message(
                    account,
                    prepared.email,
                    prepared.envelope_from,
                    before_data=handing_over,
                    accepted=accepted,
                )
        except SendFailed as failed:
            classified = failed.classified
            metrics.sends.labels(outcome=classified.outcome.value).inc()
            if classified.outcome is Outcome.UNKNOWN:
                confirmed = await self._confirmed_in_sent_folder(request, prepared.mailbox_id)
                if confirmed is not None:
                    return confirmed
            details = await asyncio.to_thread(
                self._record_failure, request, prepared, classified, version
            )
            if classified.outcome in _PARKING:  # mailbox.needs_reauth, if subscribed
                await self._dispatcher.dispatch(self._engine, activity.client())
            # Only a transient failure is retried here. An unknown outcome (maybe
            # delivered) must never be resent blindly; the rest need a decision.
            raise ApplicationError(
                classified.reason,
                details,
                type=classified.outcome.value,
                non_retryable=classified.outcome is not Outcome.TRANSIENT,
            ) from None
        metrics.sends.labels(outcome=Outcome.SENT.value).inc()
        return recorded[0] if recorded else await asyncio.to_thread(self.record_sent, prepared)

    def prepare(self, request: SendStepRequest) -> Prepared:
        """Render and compose the message and log it, or find that it already went.

        Everything is read first, then the message is rendered (on the template
        budget: ``outbound.templating.budget``) and only then written: a render
        never holds the database's write lock. A template over its budget, or
        refused by the sandbox, fails the step for good (no retry can help).

        Public, like the other steps of a send below, so ``bench/store_per_send.py``
        can measure each one's database work on its own."""
        with Session(self._engine, expire_on_commit=False) as session:
            logged = _logged_message(session, request)
            if logged is not None and logged.status in _SENT_ALREADY:
                assert logged.sent_at is not None
                return Prepared(
                    None,
                    None,
                    SendStepResult(
                        message_id=logged.message_id,
                        subject=logged.subject,
                        sent_at=logged.sent_at,
                        already_sent=True,
                    ),
                )
            campaign, mailbox, prospect = session.exec(
                select(Campaign, Mailbox, Prospect)
                .select_from(Enrollment)
                .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
                .join(Mailbox, col(Mailbox.id) == SENDING_MAILBOX_ID)
                .join(Prospect, col(Prospect.id) == Enrollment.prospect_id)
                .where(Enrollment.id == request.enrollment_id)
            ).one()
            if (
                logged is not None
                and logged.status == MessageStatus.SENDING
                and logged.handed_over_at is not None
            ):
                return Prepared(None, None, None, mailbox_id=mailbox.id or 0, cut_off=True)
            steps = {
                s.position: s
                for s in session.exec(select(Step).where(Step.campaign_id == campaign.id))
            }
            opener = _thread_opener(session, request, steps)
            stored_key = None if logged is None else stored_link_key(session, logged.id or 0)
            link_key = stored_key or self._signer.link_key(
                request.enrollment_id, request.position, request.to_address
            )
            links = MessageLinks(self._signer, self._settings.public_base_url, link_key)
            context = prospect_context(prospect.model_dump(), prospect.fields, request.to_address)
            context[UNSUBSCRIBE_VARIABLE] = links.unsubscribe_url
            try:
                subject, text = _render_step(request, steps, opener, context)
            except (TemplateTooExpensive, UnsafeTemplate) as error:
                raise _template_refused(session, logged, error) from None
            body = tracked_body(campaign, links, text)
            message_id = make_message_id(
                request.enrollment_id, request.position, mailbox.from_address, request.to_address
            )
            email = compose(
                OutgoingMessage(
                    from_name=mailbox.from_name,
                    from_address=mailbox.from_address,
                    to_address=request.to_address,
                    subject=subject,
                    body=body.text,
                    html_body=body.html,
                    message_id=message_id,
                    date=self._clock(),
                    unsubscribe_url=links.unsubscribe_url,
                    unsubscribe_mailto=links.unsubscribe_mailto(mailbox),
                    references=request.previous_message_ids,
                )
            )
            # The writes of this send begin here, after the render.
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
            session.flush()
            assert logged.id is not None
            store_links(session, logged.id, None if stored_key else link_key, body)
            session.commit()
            return Prepared(
                smtp_account(mailbox, self._keyring, hosts=self._hosts, tokens=self._tokens),
                email,
                None,
                mailbox_limits(mailbox),
                mailbox.id or 0,
                logged.envelope_from,
                campaign.workspace_id,
                message_row_id=logged.id,
                message_id=logged.message_id,
                subject=subject,
            )

    async def _take_turn_and_look(
        self, request: SendStepRequest, prepared: Prepared
    ) -> tuple[SmtpAccount, int, int] | None:
        """Wait for a slot handed over a moment early, then take the mailbox's turn and
        the last look in one transaction; refuse a missed slot; wait out the gap if the
        previous send was just now."""
        if request.scheduled_at is None:  # not a slotted send: no turn to take
            looked = await asyncio.to_thread(self.last_look, request, prepared, None)
            assert not isinstance(looked, datetime)
            return looked
        assert prepared.limits is not None
        zone_name = prepared.limits.zone_name
        key = request.slot_key or f"{request.enrollment_id}:{request.position}"
        early = (request.scheduled_at - self._clock()).total_seconds()
        if early > 0:
            await asyncio.sleep(early)
        while True:
            now = max(self._clock(), request.scheduled_at)
            late = now - request.scheduled_at
            if late > LATE_TOLERANCE or local_date(now, zone_name) != local_date(
                request.scheduled_at, zone_name
            ):
                raise slot_missed(f"send started {late} after its slot")
            turn = Turn(key, now, prepared.limits.min_gap)
            looked = await asyncio.to_thread(self.last_look, request, prepared, turn)
            if not isinstance(looked, datetime):
                return looked
            if looked - request.scheduled_at > LATE_TOLERANCE:
                raise slot_missed("another send of this mailbox is too close to this slot")
            await asyncio.sleep(max((looked - now).total_seconds(), 0.0))

    def last_look(
        self, request: SendStepRequest, prepared: Prepared, turn: Turn | None
    ) -> tuple[SmtpAccount, int, int] | datetime | None:
        """Refuse the send if anything changed that forbids it; else mark it Sending.

        First, for a slotted send, the mailbox's turn (``claim_send_turn``): if
        the gap does not allow this send yet, nothing else happens and the time
        it will is returned. Taking the turn in the same transaction as the look
        saves a commit per send; a send refused by the look gives its turn back.

        Returns the mailbox's current credentials and connection version (a
        reconnect since ``prepare`` must not send with the old password) and
        this attempt's number, or None if another attempt sent it meanwhile.

        Two attempts of one send can overlap: Temporal starts the next one when
        a heartbeat is late even though the first is still running (a worker
        whose threads are all busy). So the claim is one conditional UPDATE:
        an attempt may not take over a message another one has handed over,
        and the hand-over itself (``mark_handed_over``) only succeeds for the
        attempt that claimed the message last. Found by the worker-kill drill
        (a message twice at the sink) after the store writes became local
        activities and crowded the worker's threads.
        """
        with Session(self._engine, expire_on_commit=False) as session:
            if turn is not None:
                allowed_at = claim_send_turn(
                    session, prepared.mailbox_id, turn.key, turn.now, turn.gap
                )
                if allowed_at is not None:
                    return allowed_at
            halt_status, attempts, mailbox = session.exec(
                select(
                    select(Enrollment.halt_status)
                    .where(Enrollment.id == request.enrollment_id)
                    .scalar_subquery(),
                    select(Message.attempts)
                    .where(Message.id == prepared.message_row_id)
                    .scalar_subquery(),
                    Mailbox,
                ).where(Mailbox.id == prepared.mailbox_id)
            ).one()
            if halt_status is not None:
                raise refusal(
                    FailureType.HALTED,
                    f"not sent: the sequence was {halt_status}",
                    SendFailure(ends_as=halt_status),
                )
            if mailbox.connection_state != MailboxConnection.CONNECTED:
                raise refusal(
                    FailureType.MAILBOX_PARKED,
                    paused_refusal(mailbox)
                    if mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION
                    else mailbox.connection_problem or "the mailbox needs re-authentication",
                    SendFailure(mailbox_version=mailbox.connection_version),
                )
            now = self._clock()
            if mailbox.throttled_until is not None and mailbox.throttled_until > now:
                raise refusal(
                    FailureType.THROTTLED,
                    f"the provider's rate limit holds until {mailbox.throttled_until:%F %R} UTC",
                    SendFailure(not_before=mailbox.throttled_until),
                )
            this_message = col(Message.id) == prepared.message_row_id
            entry = find_suppression(session, prepared.workspace_id, request.to_address)
            if entry is not None:
                session.exec(  # type: ignore[call-overload]
                    update(Message)
                    .where(this_message)
                    .values(
                        status=MessageStatus.CANCELED.value,
                        failure_reason=f"suppressed ({entry.source}): {entry.detail}"[:500],
                    )
                )
                session.commit()
                raise refusal(
                    FailureType.SUPPRESSED, f"{request.to_address} is suppressed ({entry.source})"
                )
            attempt = attempts + 1
            claimed = session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(
                    this_message,
                    col(Message.attempts) == attempts,
                    col(Message.status).not_in([s.value for s in _SENT_ALREADY]),
                    or_(
                        col(Message.status) != MessageStatus.SENDING.value,
                        col(Message.handed_over_at).is_(None),
                    ),
                )
                .values(
                    status=MessageStatus.SENDING.value,
                    attempts=attempt,
                    failure_reason=None,
                    handed_over_at=None,
                )
            ).rowcount
            session.commit()
            if not claimed:
                status = session.exec(select(Message.status).where(this_message)).one()
                if status in _SENT_ALREADY:
                    return None
                raise refusal(
                    Outcome.UNKNOWN.value,
                    "another attempt of this send has handed the message over; it may have "
                    "been delivered, so it is not sent again",
                )
            return (
                smtp_account(mailbox, self._keyring, hosts=self._hosts, tokens=self._tokens),
                mailbox.connection_version,
                attempt,
            )

    async def _confirmed_in_sent_folder(
        self, request: SendStepRequest, mailbox_id: int
    ) -> SendStepResult | None:
        """Settle an unknown outcome by the copy in the mailbox's Sent folder, if any.

        Only where the mailbox has IMAP settings. The copy proves the server
        accepted the message, so the step is Sent and the sequence goes on; no
        copy (or no answer from IMAP) proves nothing, and the caller leaves the
        step Unconfirmed for the user. Providers file the copy within seconds,
        hence a few looks spread over :data:`SENT_COPY_LOOKS`.
        """
        lookup = await asyncio.to_thread(self._sent_copy_lookup, request, mailbox_id)
        if lookup is None:
            return None
        account, message_id = lookup
        for wait in SENT_COPY_LOOKS:
            await asyncio.sleep(wait.total_seconds())
            try:
                if await find_sent_copy(account, message_id):
                    _log.info("%s found in the Sent folder: recorded as sent", message_id)
                    return await asyncio.to_thread(self._record_confirmed, request)
            except (ImapError, HostRefused) as error:
                _log.warning("Sent-folder lookup of %s failed: %s", message_id, error)
                return None
        return None

    def _sent_copy_lookup(
        self, request: SendStepRequest, mailbox_id: int
    ) -> tuple[ImapAccount, str] | None:
        with Session(self._engine) as session:
            account = imap_account(
                session.get_one(Mailbox, mailbox_id),
                self._keyring,
                hosts=self._hosts,
                tokens=self._tokens,
            )
            logged = _logged_message(session, request)
        if account is None or logged is None:
            return None
        return account, logged.message_id

    def _record_confirmed(self, request: SendStepRequest) -> SendStepResult:
        """Sent, as of the moment it was handed over (the Sent folder proved it went)."""
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            assert logged is not None
            logged.status = MessageStatus.SENT
            logged.sent_at = logged.handed_over_at or self._clock()
            logged.failure_reason = None
            session.add(logged)
            session.commit()
            return SendStepResult(
                message_id=logged.message_id, subject=logged.subject, sent_at=logged.sent_at
            )

    def _give_up_unconfirmed(self, request: SendStepRequest) -> ApplicationError:
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            assert logged is not None
            return _cut_off_after_handover(session, logged)

    def mark_handed_over(self, message_row_id: int, attempt: int) -> None:
        """The envelope is accepted and the message is about to go: from here on, an
        attempt that stops without an answer may have delivered it. Only the attempt
        that claimed the message last may hand it over (see ``last_look``); any other
        stops here, before DATA, so the server discards its transaction."""
        with self._engine.begin() as connection:
            marked = connection.execute(
                update(Message)
                .where(
                    col(Message.id) == message_row_id,
                    col(Message.attempts) == attempt,
                    col(Message.status) == MessageStatus.SENDING.value,
                    col(Message.handed_over_at).is_(None),
                )
                .values(handed_over_at=self._clock())
            ).rowcount
        if not marked:
            raise ApplicationError(
                "another attempt of this send took it over; this one stopped before DATA",
                type=FailureType.SUPERSEDED,
                non_retryable=True,
            )

    def record_sent(self, prepared: Prepared) -> SendStepResult:
        """The server answered 250: Sent, before anything else (QUIT included) can fail."""
        sent_at = self._clock()
        with self._engine.begin() as connection:
            connection.execute(
                update(Message)
                .where(col(Message.id) == prepared.message_row_id)
                .values(status=MessageStatus.SENT.value, sent_at=sent_at)
            )
        return SendStepResult(
            message_id=prepared.message_id, subject=prepared.subject, sent_at=sent_at
        )

    def _record_failure(
        self,
        request: SendStepRequest,
        prepared: Prepared,
        classified: Classified,
        version: int,
    ) -> SendFailure:
        """Log the failure; park, throttle or suppress as the answer calls for.

        A hard bounce is judged by the reputation guard in the same transaction: the
        mailbox is paused with the bounce that took it over its limit."""
        details = SendFailure(mailbox_version=version)
        with Session(self._engine) as session:
            logged = _logged_message(session, request)
            if logged is not None:
                logged.status = _MESSAGE_STATUS_AFTER.get(
                    classified.outcome, MessageStatus.FAILED
                ).value
                logged.failure_reason = f"{classified.outcome.value}: {classified.reason}"[:500]
                session.add(logged)
            if classified.outcome is Outcome.HARD_BOUNCE:
                check_reputation(session, prepared.mailbox_id, self._reputation)
            mailbox = session.get_one(Mailbox, prepared.mailbox_id)
            if classified.outcome in _PARKING and mailbox.connection_version == version:
                # Only the credentials that failed are parked: a reconnect since then stands.
                # A mailbox the reputation guard paused stays paused, showing the problem.
                if mailbox.connection_state != MailboxConnection.PAUSED_REPUTATION:
                    mailbox.connection_state = MailboxConnection.NEEDS_REAUTH.value
                mailbox.connection_problem = classified.reason
                session.add(mailbox)
                emit(
                    session.connection(),
                    prepared.workspace_id,
                    [needs_reauth(prepared.mailbox_id, version, classified.reason)],
                )
            if classified.outcome is Outcome.RATE_LIMITED:
                lifts_at = rate_limit_lifts_at(
                    self._clock(), daily=classified.is_daily_quota, zone_name=mailbox.time_zone
                )
                if mailbox.throttled_until is None or mailbox.throttled_until < lifts_at:
                    mailbox.throttled_until = lifts_at
                    session.add(mailbox)
                details.not_before = mailbox.throttled_until
            session.commit()
            if classified.suppresses_address:
                suppress(
                    session,
                    prepared.workspace_id,
                    request.to_address,
                    "hard_bounce",
                    classified.reason,
                )
        return details


@dataclass(frozen=True)
class Turn:
    """The mailbox's turn a slotted send asks for: by its slot key, now, with the gap."""

    key: str
    now: datetime
    gap: timedelta


def _cut_off_after_handover(session: Session, logged: Message) -> ApplicationError:
    """The previous attempt handed the message over and then stopped (the worker died)
    before the server's answer was recorded: it may have been delivered. Never resend
    blindly; the step waits, Unconfirmed, for the user to Retry or skip it."""
    reason = (
        "the previous attempt stopped after handing the message to the server, before "
        "its answer was recorded; it may have been delivered, so it is not sent again"
    )
    logged.status = MessageStatus.FAILED.value
    logged.failure_reason = f"{Outcome.UNKNOWN.value}: {reason}"
    session.add(logged)
    session.commit()
    return refusal(Outcome.UNKNOWN.value, reason)


def _logged_message(session: Session, request: SendStepRequest) -> Message | None:
    return session.exec(
        select(Message).where(
            Message.enrollment_id == request.enrollment_id,
            Message.position == request.position,
            Message.to_address == request.to_address,
        )
    ).first()


@dataclass(frozen=True)
class _Opener:
    """The step that opened this message's thread, and the subject it was sent with."""

    step: Step
    sent_subject: str | None


def _thread_opener(
    session: Session, request: SendStepRequest, steps: dict[int, Step]
) -> _Opener | None:
    """For a same-thread step, the message that opened the thread (the last new-thread
    step before it); None for a new thread."""
    if request.thread_mode is not ThreadMode.SAME_THREAD:
        return None
    opener = max(
        (
            p
            for p, s in steps.items()
            if p < request.position and s.thread_mode == ThreadMode.NEW_THREAD
        ),
        default=min(steps),
    )
    sent = session.exec(
        select(Message.subject).where(
            Message.enrollment_id == request.enrollment_id,
            Message.position == opener,
            Message.to_address == request.to_address,
        )
    ).first()
    return _Opener(steps[opener], sent or None)


def _render_step(
    request: SendStepRequest,
    steps: dict[int, Step],
    opener: _Opener | None,
    context: dict[str, str],
) -> tuple[str, str]:
    """Subject and body text of the step, from one rendering budget."""
    budget = Budget()
    step = steps[request.position]
    rendered = render_message(step.subject, step.body, context, budget)
    if opener is None:
        return rendered.subject, rendered.body
    thread_subject = opener.sent_subject
    if thread_subject is None:
        thread_subject = render_message(opener.step.subject, "", context, budget).subject
    return reply_subject(thread_subject), rendered.body


def _template_refused(
    session: Session, logged: Message | None, error: TemplateTooExpensive | UnsafeTemplate
) -> ApplicationError:
    """The step fails for good: the message log says why (a short write after the render)."""
    if isinstance(error, TemplateTooExpensive):
        kind, reason = FailureType.TEMPLATE_TOO_EXPENSIVE, str(error)
    else:
        kind, reason = FailureType.TEMPLATE_REFUSED, f"the template sandbox refuses it: {error}"
    if logged is not None and logged.status != MessageStatus.SENT:
        logged.status = MessageStatus.FAILED.value
        logged.failure_reason = f"{kind}: {reason}"[:500]
        session.add(logged)
        session.commit()
    return refusal(kind, reason)
