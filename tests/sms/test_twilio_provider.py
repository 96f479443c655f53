"""``TwilioProvider`` through Twilio's own SDK against the local gateway: sends and failures."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from outbound.devstack.sms_gateway import Behaviour, Refusal, SmsGateway
from outbound.sms.provider import (
    ProviderCredentials,
    SmsAuthFailed,
    SmsOptedOut,
    SmsRejected,
    SmsTransient,
)
from outbound.sms.twilio_provider import TwilioProvider
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER

PROSPECT = "+15550100001"


async def send(
    provider: TwilioProvider, credentials: ProviderCredentials, to: str = PROSPECT
) -> str:
    """Send a text in a thread (the SDK blocks); the sid."""
    receipt = await asyncio.to_thread(
        provider.send, credentials, to=to, body="Hi Ada", status_callback=None
    )
    return receipt.sid


async def test_a_send_is_queued_with_a_message_sid(
    provider: TwilioProvider, credentials: ProviderCredentials, gateway: SmsGateway
) -> None:
    receipt = await asyncio.to_thread(
        provider.send, credentials, to=PROSPECT, body="Hi Ada", status_callback=None
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.sid)
    assert receipt.status == "queued"
    [message] = gateway.messages
    assert (message.sid, message.to_number, message.from_number, message.body) == (
        receipt.sid,
        PROSPECT,
        OUR_NUMBER,
        "Hi Ada",
    )


async def test_a_messaging_service_sends_without_a_from_number(
    provider: TwilioProvider, gateway: SmsGateway
) -> None:
    service = ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid="MG" + "1" * 32)

    receipt = await asyncio.to_thread(
        provider.send, service, to=PROSPECT, body="Hi", status_callback=None
    )

    assert receipt.status == "accepted"  # as at Twilio: the service picks a number next
    assert gateway.messages[0].messaging_service_sid == "MG" + "1" * 32


def test_credentials_need_exactly_one_sender_and_hide_the_token() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(ValueError, match="exactly one"):
        ProviderCredentials(
            ACCOUNT_SID, AUTH_TOKEN, from_number="+1555", messaging_service_sid="MG"
        )
    assert AUTH_TOKEN not in repr(ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN, from_number="+1"))


async def test_an_opted_out_recipient_is_sms_opted_out(
    provider: TwilioProvider, credentials: ProviderCredentials, gateway: SmsGateway
) -> None:
    gateway.rules.opted_out.add(PROSPECT)

    with pytest.raises(SmsOptedOut, match=r"^21610: Attempt to send to unsubscribed recipient"):
        await send(provider, credentials)
    assert gateway.messages == []


async def test_an_invalid_number_is_rejected_with_its_code(
    provider: TwilioProvider, credentials: ProviderCredentials
) -> None:
    with pytest.raises(
        SmsRejected, match=r"^21211: The 'To' number 555-0100 is not a valid"
    ) as raised:
        await send(provider, credentials, to="555-0100")
    assert raised.value.code == 21211


async def test_a_landline_is_rejected_with_its_code(
    provider: TwilioProvider, credentials: ProviderCredentials, gateway: SmsGateway
) -> None:
    gateway.rules.refusals[PROSPECT] = Refusal(21614, "'To' number is not a valid mobile number")

    with pytest.raises(SmsRejected, match=r"^21614: ") as raised:
        await send(provider, credentials)
    assert raised.value.code == 21614


async def test_a_wrong_auth_token_is_sms_auth_failed(provider: TwilioProvider) -> None:
    wrong = ProviderCredentials(ACCOUNT_SID, "not-the-token", from_number=OUR_NUMBER)

    with pytest.raises(SmsAuthFailed, match=r"^20003: "):
        await send(provider, wrong)


@pytest.mark.parametrize("behaviour", [Behaviour.SERVER_ERROR, Behaviour.THROTTLED])
async def test_a_server_error_or_throttling_is_transient(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    gateway: SmsGateway,
    behaviour: Behaviour,
) -> None:
    gateway.rules.behaviours[PROSPECT] = behaviour

    with pytest.raises(SmsTransient, match=r"^20500: |^20429: "):
        await send(provider, credentials)


async def test_a_closed_port_is_transient(credentials: ProviderCredentials) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    provider = TwilioProvider(f"http://127.0.0.1:{closed}", timeout=2)

    with pytest.raises(SmsTransient, match="unreachable"):
        await send(provider, credentials)
    with pytest.raises(SmsTransient):
        await asyncio.to_thread(provider.check_credentials, credentials)


async def test_credentials_check(
    provider: TwilioProvider, credentials: ProviderCredentials
) -> None:
    await asyncio.to_thread(provider.check_credentials, credentials)

    wrong = ProviderCredentials(ACCOUNT_SID, "not-the-token", from_number=OUR_NUMBER)
    with pytest.raises(SmsAuthFailed, match=r"^20003: "):
        await asyncio.to_thread(provider.check_credentials, wrong)
    unknown = ProviderCredentials("AC" + "f" * 32, AUTH_TOKEN, from_number=OUR_NUMBER)
    with pytest.raises(SmsAuthFailed):
        await asyncio.to_thread(provider.check_credentials, unknown)


async def test_twilio_region_variables_do_not_lead_the_sdk_past_the_gateway(
    provider: TwilioProvider, credentials: ProviderCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")

    assert (await send(provider, credentials)).startswith("SM")
