"""The local SMS gateway's webhooks: status callbacks and inbound texts, signed as Twilio
signs them, checked by ``TwilioProvider`` as Outbound checks them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from outbound.devstack.sms_gateway import (
    Behaviour,
    GatewayRules,
    SmsGateway,
    start_sms_gateway,
)
from outbound.devstack.sms_sink import read_sms_sink
from outbound.sms.provider import MalformedWebhook, ProviderCredentials, SmsOptedOut
from outbound.sms.twilio_provider import TwilioProvider
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Received, Receiver

PROSPECT = "+15550100001"


async def send(
    provider: TwilioProvider, credentials: ProviderCredentials, callback: str, to: str = PROSPECT
) -> str:
    """Send one text with a status callback, in a thread; its sid."""
    receipt = await asyncio.to_thread(
        provider.send, credentials, to=to, body="Hi Ada", status_callback=callback
    )
    return receipt.sid


def statuses(received: list[Received]) -> list[str]:
    """The MessageStatus of each callback, in the order they arrived."""
    return [webhook.params["MessageStatus"] for webhook in received]


async def test_callbacks_arrive_sent_then_delivered_signed_as_twilio_signs(
    provider: TwilioProvider, credentials: ProviderCredentials, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/sms/status?workspace=7"
    sid = await send(provider, credentials, callback)

    received = await receiver.wait_for(2)

    assert statuses(received) == ["sent", "delivered"]
    for webhook in received:
        assert provider.valid_signature(AUTH_TOKEN, callback, webhook.params, webhook.signature)
        report = provider.parse_status(webhook.params)
        assert (report.sid, report.error_code) == (sid, None)
        assert webhook.params["To"] == PROSPECT
        assert webhook.params["From"] == OUR_NUMBER
        assert webhook.params["AccountSid"] == ACCOUNT_SID
        assert webhook.params["SmsSid"] == sid
        assert webhook.params["ApiVersion"] == "2010-04-01"


async def test_a_forged_signature_or_a_tampered_field_is_refused(
    provider: TwilioProvider, credentials: ProviderCredentials, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/sms/status"
    await send(provider, credentials, callback)
    [sent] = await receiver.wait_for(1)

    tampered = {**sent.params, "MessageStatus": "delivered"}
    assert not provider.valid_signature(AUTH_TOKEN, callback, tampered, sent.signature)
    assert not provider.valid_signature(AUTH_TOKEN, callback, sent.params, "Zm9yZ2VkIHNpZw==")
    assert not provider.valid_signature("another-token", callback, sent.params, sent.signature)
    assert not provider.valid_signature(
        AUTH_TOKEN, f"{receiver.url}/other", sent.params, sent.signature
    )


async def test_an_undelivered_text_reports_30003(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
) -> None:
    gateway.rules.behaviours[PROSPECT] = Behaviour.UNDELIVERED
    await send(provider, credentials, f"{receiver.url}/status")

    received = await receiver.wait_for(2)

    assert statuses(received) == ["sent", "undelivered"]
    report = provider.parse_status(received[1].params)
    assert (report.error_code, report.error_message) == ("30003", "Unreachable destination handset")
    assert gateway.messages[0].status == "undelivered"


async def test_reverse_order_delivers_delivered_before_sent(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
) -> None:
    gateway.rules.behaviours[PROSPECT] = Behaviour.REVERSE
    await send(provider, credentials, f"{receiver.url}/status")

    assert statuses(await receiver.wait_for(2)) == ["delivered", "sent"]


async def test_duplicate_mode_posts_every_callback_twice(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
) -> None:
    gateway.rules.behaviours[PROSPECT] = Behaviour.DUPLICATE
    await send(provider, credentials, f"{receiver.url}/status")

    assert statuses(await receiver.wait_for(4)) == ["sent", "sent", "delivered", "delivered"]


@pytest.mark.parametrize(
    ("behaviour", "expected"), [(Behaviour.SILENT, []), (Behaviour.SENT_ONLY, ["sent"])]
)
async def test_silent_and_sent_only_numbers_stop_reporting(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
    behaviour: Behaviour,
    expected: list[str],
) -> None:
    gateway.rules.behaviours[PROSPECT] = behaviour
    await send(provider, credentials, f"{receiver.url}/status")

    async with asyncio.timeout(5):
        await gateway.settle()
    assert statuses(receiver.received) == expected
    assert gateway.messages[0].status == "sent"


async def test_a_callback_that_cannot_connect_is_retried_then_given_up(
    provider: TwilioProvider, credentials: ProviderCredentials, gateway: SmsGateway
) -> None:
    await send(provider, credentials, "http://127.0.0.1:1/status")

    async with asyncio.timeout(5):
        await gateway.settle()
    assert [webhook.status_code for webhook in gateway.webhooks] == [None, None]
    assert gateway.messages[0].status == "delivered"


async def test_inbound_help_posts_a_signed_webhook_and_records_the_twiml_reply(
    provider: TwilioProvider, receiver: Receiver, gateway: SmsGateway
) -> None:
    receiver.reply = lambda params: provider.reply_body(
        "Outbound recruiting: reply STOP to opt out." if params["Body"] == "HELP" else None
    )

    async with httpx.AsyncClient(base_url=gateway.url) as client:
        answer = await client.post(
            "/sink/sms/inbound", json={"from": PROSPECT, "to": OUR_NUMBER, "body": "HELP"}
        )

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["webhook_status"] == 200
    [webhook] = await receiver.wait_for(1)
    assert webhook.path == "/inbound"
    assert provider.valid_signature(
        AUTH_TOKEN, f"{receiver.url}/inbound", webhook.params, webhook.signature
    )
    inbound = provider.parse_inbound(webhook.params)
    assert (inbound.sid, inbound.from_number, inbound.to_number, inbound.body) == (
        result["message_sid"],
        PROSPECT,
        OUR_NUMBER,
        "HELP",
    )
    assert webhook.params["NumMedia"] == "0"
    [reply] = result["replies"]
    assert (reply["to"], reply["from"], reply["body"]) == (
        PROSPECT,
        OUR_NUMBER,
        "Outbound recruiting: reply STOP to opt out.",
    )
    assert [message.sid for message in gateway.messages] == [reply["sid"]]


async def test_an_empty_twiml_answer_records_no_reply(
    provider: TwilioProvider, receiver: Receiver, gateway: SmsGateway
) -> None:
    receiver.reply = lambda _params: provider.reply_body(None)

    async with httpx.AsyncClient(base_url=gateway.url) as client:
        answer = await client.post(
            "/sink/sms/inbound", json={"from": PROSPECT, "to": OUR_NUMBER, "body": "thanks!"}
        )

    assert answer.json()["replies"] == []
    assert gateway.messages == []


async def test_stop_opts_the_sender_out_and_start_back_in(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
) -> None:
    receiver.reply = lambda params: provider.reply_body(
        "You are unsubscribed." if params.get("Body") == "STOP" else None
    )
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        await client.post(
            "/sink/sms/inbound", json={"from": PROSPECT, "to": OUR_NUMBER, "body": "stop"}
        )
        with pytest.raises(SmsOptedOut):
            await send(provider, credentials, f"{receiver.url}/status")
        await client.post(
            "/sink/sms/inbound", json={"from": PROSPECT, "to": OUR_NUMBER, "body": "START"}
        )
    await send(provider, credentials, f"{receiver.url}/status")


def test_webhooks_without_their_fields_are_malformed(provider: TwilioProvider) -> None:
    with pytest.raises(MalformedWebhook):
        provider.parse_status({"MessageStatus": "sent"})
    with pytest.raises(MalformedWebhook):
        provider.parse_inbound({"MessageSid": "SM1", "Body": "hi"})


async def test_the_sink_lists_newest_first_and_keeps_a_file_another_process_reads(
    provider: TwilioProvider,
    credentials: ProviderCredentials,
    receiver: Receiver,
    gateway: SmsGateway,
    tmp_path: Path,
) -> None:
    first = await send(provider, credentials, f"{receiver.url}/status")
    second = await send(provider, credentials, f"{receiver.url}/status", to="+15550100002")
    await receiver.wait_for(4)

    async with httpx.AsyncClient(base_url=gateway.url) as client:
        listed = (await client.get("/sink/sms")).json()
    assert [message["sid"] for message in listed] == [second, first]
    assert [change["status"] for change in listed[1]["history"]] == ["queued", "sent", "delivered"]
    assert listed[1]["segments"] == 1

    stored = read_sms_sink(tmp_path / "sms")
    assert [message.sid for message in stored] == [second, first]
    assert [change.status for change in stored[1].history] == ["queued", "sent", "delivered"]


async def test_the_dev_stack_helper_runs_the_gateway_in_a_thread(
    tmp_path: Path, credentials: ProviderCredentials
) -> None:
    running = await asyncio.to_thread(
        start_sms_gateway, {ACCOUNT_SID: AUTH_TOKEN}, tmp_path, port=0, delay=0.01
    )
    try:
        provider = TwilioProvider(running.gateway.url, timeout=5)
        await send(provider, credentials, "http://127.0.0.1:1/nowhere")
        with pytest.raises(SmsOptedOut):  # Twilio's magic number, as at Twilio
            await send(provider, credentials, "http://127.0.0.1:1/nowhere", to="+15005550004")
    finally:
        await asyncio.to_thread(running.stop)
    assert len(read_sms_sink(tmp_path / "sms")) == 1
    assert GatewayRules.twilio_test_numbers().refusals["+15005550001"].code == 21211
