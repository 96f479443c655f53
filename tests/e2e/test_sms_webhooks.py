"""SMS webhooks through the whole stack: Twilio's SDK → the local gateway → signed status
callbacks and inbound texts → the public app → the database (and Temporal)."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from outbound.domain.statuses import MessageStatus
from outbound.sms.provider import ProviderCredentials
from outbound.sms.twilio_provider import TwilioProvider
from outbound.sms.webhook_auth import status_callback_url
from outbound.store.encryption import Keyring
from outbound.store.tables import Message, Workspace
from tests.e2e.conftest import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, Stack
from tests.sms.test_webhooks import MESSAGE_ID, OUR_NUMBER, PROSPECT, add_sms_sequence


def message_status(stack: Stack) -> str:
    with Session(stack.engine) as session:
        return session.exec(select(Message).where(Message.message_id == MESSAGE_ID)).one().status


async def test_callbacks_and_a_stop_reach_the_store_and_a_forged_callback_does_not(
    stack: Stack,
) -> None:
    with Session(stack.engine) as session:
        workspace_id = session.exec(select(Workspace.id).where(Workspace.name == "tests")).one()
    assert workspace_id is not None
    keyring = Keyring.from_settings(stack.settings)
    add_sms_sequence(stack.engine, keyring, workspace_id, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN)
    url = status_callback_url(stack.settings.public_base_url, MESSAGE_ID)
    forged = {"MessageSid": "SM1", "MessageStatus": "delivered", "AccountSid": SMS_ACCOUNT_SID}
    signature = RequestValidator("not-the-token").compute_signature(url, forged)

    refused = await stack.public.post(
        url.removeprefix(stack.settings.public_base_url),
        data=forged,
        headers={"X-Twilio-Signature": signature},
    )
    assert refused.status_code == 403
    assert message_status(stack) == MessageStatus.SENDING

    provider = TwilioProvider(stack.sms_gateway.url, timeout=5)
    credentials = ProviderCredentials(SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, from_number=OUR_NUMBER)
    await asyncio.to_thread(
        provider.send, credentials, to=PROSPECT, body="Hi Ada", status_callback=url
    )
    await stack.sms_gateway.settle()
    assert message_status(stack) == MessageStatus.DELIVERED
    assert [hook.status_code for hook in stack.sms_gateway.webhooks] == [204, 204]

    async with httpx.AsyncClient(base_url=stack.sms_gateway.url) as gateway:
        texted = await gateway.post(
            "/sink/sms/inbound", json={"from": PROSPECT, "to": OUR_NUMBER, "body": "Stop"}
        )
    assert texted.json()["webhook_status"] == 200
    listed = (await stack.api.get("/suppressions")).json()["items"]
    assert [(item["address"], item["source"]) for item in listed] == [(PROSPECT, "sms_stop")]
