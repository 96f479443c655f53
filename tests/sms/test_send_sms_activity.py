"""``send_sms`` against the local gateway (Twilio's SDK, real HTTP) and a real database:
each text goes once, refusals are recorded as users see them, secrets stay out."""

from __future__ import annotations

import socket

import pytest
import requests
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from outbound.activities.sms import SmsActivities
from outbound.devstack.sms_gateway import Behaviour, Refusal
from outbound.domain.sequence import FailureType
from outbound.domain.sms_sequence import SettleSmsRequest
from outbound.domain.statuses import MessageStatus, SuppressionSource
from outbound.settings import Settings
from outbound.sms.lifecycle import TIMED_OUT
from outbound.sms.provider import SmsTransient
from outbound.store.suppressions import find_suppression, suppress
from outbound.store.tables import Enrollment, SmsSender
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Receiver
from tests.sms.world import PROSPECT, World
from tests.sms.world import world as world


async def refused(world: World, to: str = PROSPECT) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await world.activities.send_sms(world.request(to))
    assert AUTH_TOKEN not in str(caught.value)
    return caught.value


async def test_a_text_is_handed_over_once_with_its_sid_and_the_callback_to_our_message(
    world: World, receiver: Receiver
) -> None:
    result = await world.activities.send_sms(world.request())

    [sent] = world.gateway.messages
    assert (sent.to_number, sent.from_number, sent.body) == (
        PROSPECT,
        OUR_NUMBER,
        "Hi Ada, got a minute?",
    )
    assert (result.provider_sid, result.status, result.already_sent) == (
        sent.sid,
        MessageStatus.SENDING,
        False,
    )
    message = world.message()
    assert (message.status, message.provider_sid, message.attempts) == ("Sending", sent.sid, 1)
    assert message.handed_over_at is not None and message.channel == "sms"
    callbacks = await receiver.wait_for(2)  # sent, delivered: addressed by our message id
    assert {c.path for c in callbacks} == {f"/sms/status/{message.message_id}"}
    assert AUTH_TOKEN not in result.model_dump_json()


async def test_a_retry_after_the_hand_over_does_not_send_again(world: World) -> None:
    first = await world.activities.send_sms(world.request())
    again = await world.activities.send_sms(world.request())

    assert len(world.gateway.messages) == 1
    assert (again.already_sent, again.provider_sid) == (True, first.provider_sid)
    assert world.message().attempts == 1


async def test_an_attempt_cut_off_after_the_hand_over_is_not_sent_again(world: World) -> None:
    world.activities.claim(world.request())  # recorded the hand-over, then the worker died

    result = await world.activities.send_sms(world.request())

    assert world.gateway.messages == []
    assert (result.provider_sid, result.status, result.already_sent) == (
        None,
        MessageStatus.SENDING,
        True,
    )


async def test_an_unsubscribed_recipient_21610_is_opted_out_and_suppressed(world: World) -> None:
    world.gateway.rules.opted_out.add(PROSPECT)

    error = await refused(world)

    assert (error.type, error.non_retryable) == (FailureType.SMS_OPTED_OUT, True)
    message = world.message()
    assert message.status == "OptedOut" and "21610" in (message.failure_reason or "")
    with Session(world.engine) as session:
        entry = find_suppression(session, world.workspace_id, PROSPECT)
    assert entry is not None and entry.source == SuppressionSource.SMS_STOP
    assert world.gateway.messages == []


async def test_a_rejected_text_fails_with_the_providers_reason(world: World) -> None:
    world.gateway.rules.refusals[PROSPECT] = Refusal(21614, "'To' number is not a valid mobile")

    error = await refused(world)

    assert (error.type, error.non_retryable) == (FailureType.SMS_REJECTED, True)
    message = world.message()
    assert (message.status, message.failure_reason) == (
        "Failed",
        "21614: 'To' number is not a valid mobile",
    )
    assert message.handed_over_at is None


async def test_a_suppressed_number_is_not_sent_to(world: World) -> None:
    with Session(world.engine) as session:
        suppress(session, world.workspace_id, PROSPECT, SuppressionSource.SMS_STOP, "STOP")

    error = await refused(world)

    assert error.type == FailureType.SMS_OPTED_OUT
    assert world.gateway.messages == []
    assert world.message().status == "OptedOut"


async def test_a_provider_error_before_the_hand_over_is_retried_then_sent_once(
    world: World,
) -> None:
    world.gateway.rules.behaviours[PROSPECT] = Behaviour.SERVER_ERROR

    error = await refused(world)

    assert (error.type, error.non_retryable) == (FailureType.SMS_TRANSIENT, False)
    assert (world.message().status, world.message().handed_over_at) == ("Retrying", None)
    del world.gateway.rules.behaviours[PROSPECT]
    result = await world.activities.send_sms(world.request())
    assert not result.already_sent and len(world.gateway.messages) == 1
    assert world.message().attempts == 2


async def test_refused_credentials_park_the_sender(world: World) -> None:
    world.gateway.accounts[ACCOUNT_SID] = "another-token"

    error = await refused(world)

    assert (error.type, error.non_retryable) == (FailureType.SENDER_PARKED, True)
    with Session(world.engine) as session:
        sender = session.get_one(SmsSender, world.sender_id)
    assert sender.connection_state == "needs_reauth"
    assert world.message().failure_reason == f"SenderDisconnected: {sender.connection_problem}"
    again = await refused(world)  # parked: not even tried
    assert again.type == FailureType.SENDER_PARKED


async def test_a_stopped_sequence_sends_nothing(world: World) -> None:
    with Session(world.engine) as session:
        enrollment = session.get_one(Enrollment, world.enrollment_id)
        enrollment.halt_status = "Stopped"
        session.add(enrollment)
        session.commit()

    error = await refused(world)

    assert error.type == FailureType.HALTED and world.gateway.messages == []


async def test_settling_never_undoes_a_report(world: World) -> None:
    await world.activities.send_sms(world.request())
    settle = SettleSmsRequest(
        enrollment_id=world.enrollment_id,
        position=1,
        to_number=PROSPECT,
        status=MessageStatus.FAILED,
        reason=TIMED_OUT,
    )

    await world.activities.settle_sms(settle)
    assert (world.message().status, world.message().failure_reason) == ("Failed", TIMED_OUT)
    await world.activities.settle_sms(
        settle.model_copy(update={"status": MessageStatus.ASSUMED_DELIVERED, "reason": None})
    )
    assert world.message().status == "Failed"  # a guess does not replace a guess


class _NoAnswer:
    """A provider whose answer never comes back: the request went, the read timed out."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, *_args: object, **_kwargs: object) -> None:
        self.calls += 1
        try:
            raise requests.ReadTimeout("read timed out")
        except requests.ReadTimeout as error:
            raise SmsTransient("timeout: no answer from the SMS provider") from error


async def test_a_timeout_after_the_request_went_counts_as_handed_over(
    world: World, receiver: Receiver
) -> None:
    provider = _NoAnswer()
    settings = Settings(sms_api_base_url=world.gateway.url, public_base_url=receiver.url)
    activities = SmsActivities(world.engine, settings, provider=provider)  # type: ignore[arg-type]

    first = await activities.send_sms(world.request())
    again = await activities.send_sms(world.request())

    assert (first.provider_sid, first.status, first.already_sent) == (
        None,
        MessageStatus.SENDING,
        False,
    )
    assert again.already_sent and provider.calls == 1  # maybe delivered: never resent
    message = world.message()
    assert message.status == "Sending" and message.handed_over_at is not None


async def test_an_unreachable_provider_is_retried_without_a_hand_over(
    world: World, receiver: Receiver
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}"
    settings = Settings(sms_api_base_url=closed, public_base_url=receiver.url)
    activities = SmsActivities(world.engine, settings)

    with pytest.raises(ApplicationError) as caught:
        await activities.send_sms(world.request())

    assert (caught.value.type, caught.value.non_retryable) == (FailureType.SMS_TRANSIENT, False)
    assert (world.message().status, world.message().handed_over_at) == ("Retrying", None)
    await world.activities.send_sms(world.request())  # the provider is back: it goes, once
    assert len(world.gateway.messages) == 1
