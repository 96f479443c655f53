"""The SMS webhooks on the real public app, served on loopback, fed by the local gateway:
Twilio's SDK sends, the gateway posts signed callbacks and inbound texts, and the app
checks them with the sender's token from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from outbound.accounts.members import create_workspace
from outbound.api.app import create_public_app
from outbound.devstack.loopback import LoopbackServer
from outbound.devstack.sms_gateway import Behaviour, SmsGateway
from outbound.domain.sequence import InboundReply
from outbound.domain.sms_senders import SmsSenderCreate
from outbound.domain.sms_sequence import SmsOptOut, SmsStatusUpdate
from outbound.domain.statuses import MessageStatus, ProspectStatus
from outbound.settings import Settings
from outbound.sms.provider import ProviderCredentials
from outbound.sms.twilio_provider import TwilioProvider
from outbound.sms.webhook_auth import status_callback_url
from outbound.store.encryption import Keyring
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.sms_senders import create_sms_sender
from outbound.store.suppressions import find_suppression
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Message,
    Prospect,
    ProspectPhone,
    SmsSlotReservation,
    Step,
    Suppression,
    User,
)
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.support.recording_temporal import RecordingTemporal

OUR_NUMBER = "+14155550100"  # numbers the store takes (parse_phone): real-looking ones
PROSPECT = "+14155550123"
STRANGER = "+14155550199"
WORKFLOW = "enrollment-wf-1"
MESSAGE_ID = "sms-1-1@outbound.test"
HELP_TEXT = "Acme Recruiting: reply STOP to opt out."


@dataclass
class World:
    engine: Engine
    temporal: RecordingTemporal
    gateway: SmsGateway
    public_url: str
    http: httpx.AsyncClient
    provider: TwilioProvider
    workspace_id: int
    enrollment_id: int

    def message(self) -> Message:
        with Session(self.engine) as session:
            found = session.exec(select(Message).where(Message.message_id == MESSAGE_ID)).one()
            session.expunge(found)
            return found

    def listed(self, number: str) -> bool:
        with Session(self.engine) as session:
            return find_suppression(session, self.workspace_id, number) is not None

    async def send(self, to: str = PROSPECT) -> str:
        """Send the message through the SDK and the gateway, its callbacks to our app."""
        credentials = ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN, from_number=OUR_NUMBER)
        receipt = await asyncio.to_thread(
            self.provider.send,
            credentials,
            to=to,
            body="Hi Ada, are you open to a chat?",
            status_callback=status_callback_url(self.public_url, MESSAGE_ID),
        )
        await self.gateway.settle()
        return receipt.sid

    async def text_us(self, body: str, sender: str = PROSPECT) -> dict[str, object]:
        """A prospect texts our number (the gateway posts the signed inbound webhook)."""
        answer = await self.http.post(
            f"{self.gateway.url}/sink/sms/inbound",
            json={"from": sender, "to": OUR_NUMBER, "body": body},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/sms.db")
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def populate(engine: Engine, keyring: Keyring) -> tuple[int, int]:
    """A workspace with an SMS sequence (``add_sms_sequence``); (workspace id, enrollment id)."""
    workspace_id, _ = create_workspace(engine, "tests", "ada@example.com", "Ada")
    return workspace_id, add_sms_sequence(engine, keyring, workspace_id)


def add_sms_sequence(
    engine: Engine,
    keyring: Keyring,
    workspace_id: int,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = AUTH_TOKEN,
) -> int:
    """An SMS sender of the workspace (on that account), a campaign with an SMS step, a
    prospect with a mobile number, their running sequence and its text (Sending); the
    enrollment's id."""
    with Session(engine) as session:
        create_sms_sender(
            session,
            workspace_id,
            SmsSenderCreate.model_validate(
                {
                    "name": "Recruiting line",
                    "account_sid": account_sid,
                    "auth_token": auth_token,
                    "from_number": OUR_NUMBER,
                    "help_text": HELP_TEXT,
                }
            ),
            keyring,
        )
        user = session.exec(select(User).order_by(col(User.id))).first()
        assert user is not None
        mailbox = Mailbox(
            workspace_id=workspace_id,
            smtp_host="smtp.example.com",
            smtp_port=587,
            tls_mode="starttls",
            from_address="ada@example.com",
        )
        session.add(mailbox)
        session.flush()
        campaign = Campaign(
            workspace_id=workspace_id,
            name="Texts",
            owner_user_id=user.id or 0,
            mailbox_id=mailbox.id or 0,
            status="InProgress",
            grace_seconds=0,
        )
        session.add(campaign)
        session.flush()
        session.add(
            Step(
                campaign_id=campaign.id or 0,
                position=1,
                kind="sms",
                body="Hi",
                thread_mode="new_thread",
            )
        )
        prospect = Prospect(workspace_id=workspace_id, first_name="Ada")
        session.add(prospect)
        session.flush()
        session.add(
            ProspectPhone(
                workspace_id=workspace_id,
                prospect_id=prospect.id or 0,
                position=1,
                number=PROSPECT,
                type="mobile",
            )
        )
        enrollment = Enrollment(
            workspace_id=workspace_id,
            campaign_id=campaign.id or 0,
            prospect_id=prospect.id or 0,
            status=ProspectStatus.ACTIVE.value,
            workflow_id=WORKFLOW,
        )
        session.add(enrollment)
        session.flush()
        session.add(
            Message(
                enrollment_id=enrollment.id or 0,
                position=1,
                to_address=PROSPECT,
                message_id=MESSAGE_ID,
                status=MessageStatus.SENDING.value,
                channel="sms",
            )
        )
        session.commit()
        return enrollment.id or 0


@pytest.fixture
async def world(store: Engine, tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/sms.db")
    keyring = Keyring.from_settings(settings)
    workspace_id, enrollment_id = populate(store, keyring)
    temporal = RecordingTemporal()
    app = create_public_app(settings, engine=store, temporal=temporal)  # type: ignore[arg-type]
    server = LoopbackServer(app)
    # The provider reaches the public app at its own address: that is the base URL it signs.
    app.state.settings = settings.model_copy(update={"public_base_url": server.url})
    await server.start()
    try:
        async with (
            SmsGateway(
                {ACCOUNT_SID: AUTH_TOKEN}, delay=0.01, inbound_url=f"{server.url}/sms/inbound"
            ) as gateway,
            httpx.AsyncClient(timeout=10) as http,
        ):
            yield World(
                store,
                temporal,
                gateway,
                server.url,
                http,
                TwilioProvider(gateway.url, timeout=5),
                workspace_id,
                enrollment_id,
            )
    finally:
        await server.stop()


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def callback_form(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": OUR_NUMBER,
        "To": PROSPECT,
        "ApiVersion": "2010-04-01",
        **extra,
    }


# --- status callbacks ---------------------------------------------------------------------


async def test_a_verified_callback_applies_and_signals_the_sequence(world: World) -> None:
    sid = await world.send()

    message = world.message()
    assert (message.status, message.provider_sid) == (MessageStatus.DELIVERED, sid)
    assert message.sent_at is not None
    updates = world.temporal.named("sms_status")
    assert [(s.workflow_id, s.argument) for s in updates] == [
        (WORKFLOW, SmsStatusUpdate(key=f"{sid}:Sent", position=1, status=MessageStatus.SENT)),
        (
            WORKFLOW,
            SmsStatusUpdate(key=f"{sid}:Delivered", position=1, status=MessageStatus.DELIVERED),
        ),
    ]
    assert all(hook.status_code == 204 for hook in world.gateway.webhooks)


@pytest.mark.parametrize("behaviour", [Behaviour.DUPLICATE, Behaviour.REVERSE])
async def test_callbacks_twice_or_out_of_order_end_at_the_furthest_status(
    world: World, behaviour: Behaviour
) -> None:
    world.gateway.rules.behaviours[PROSPECT] = behaviour
    sid = await world.send()

    assert world.message().status == MessageStatus.DELIVERED
    keys = [s.argument.key for s in world.temporal.named("sms_status")]
    assert len(keys) == len(set(keys))  # each change told once
    assert keys[-1] == f"{sid}:Delivered"
    if behaviour is Behaviour.REVERSE:  # a late "sent" after "delivered" changes nothing
        assert keys == [f"{sid}:Delivered"]


async def test_an_undelivered_report_fails_the_message_with_the_providers_reason(
    world: World,
) -> None:
    world.gateway.rules.behaviours[PROSPECT] = Behaviour.UNDELIVERED
    await world.send()

    message = world.message()
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason == "30003: Unreachable destination handset"
    assert world.temporal.named("sms_status")[-1].argument.reason == message.failure_reason


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "forged"])
async def test_a_missing_or_forged_signature_is_403_and_changes_nothing(
    world: World, signature: str | None
) -> None:
    url = status_callback_url(world.public_url, MESSAGE_ID)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}

    answer = await world.http.post(url, data=callback_form("SM1", "delivered"), headers=headers)

    assert answer.status_code == 403
    assert answer.json()["detail"][0]["field"] == "X-Twilio-Signature"
    assert world.message().status == MessageStatus.SENDING
    assert world.temporal.signals == []


async def test_another_token_an_unknown_message_or_a_changed_form_get_the_same_403(
    world: World,
) -> None:
    url = status_callback_url(world.public_url, MESSAGE_ID)
    form = callback_form("SM1", "delivered")
    unknown = status_callback_url(world.public_url, "sms-9-9@outbound.test")
    tampered = {**form, "MessageStatus": "failed"}

    answers = [
        await world.http.post(url, data=form, headers=signed(url, form, "another-token")),
        await world.http.post(unknown, data=form, headers=signed(unknown, form)),
        await world.http.post(url, data=tampered, headers=signed(url, form)),
        await world.http.post(url + "x", data=form, headers=signed(url, form)),
    ]

    assert [a.status_code for a in answers] == [403] * 4
    assert len({a.text for a in answers}) == 1  # nothing tells them apart
    assert world.message().status == MessageStatus.SENDING
    assert world.temporal.signals == []


async def test_21610_makes_the_message_opted_out_and_lists_the_number(world: World) -> None:
    url = status_callback_url(world.public_url, MESSAGE_ID)
    form = callback_form(
        "SM2", "failed", ErrorCode="21610", ErrorMessage="Attempt to send to unsubscribed recipient"
    )

    answer = await world.http.post(url, data=form, headers=signed(url, form))
    again = await world.http.post(url, data=form, headers=signed(url, form))

    assert (answer.status_code, again.status_code) == (204, 204)
    assert world.message().status == MessageStatus.OPTED_OUT
    assert world.listed(PROSPECT)
    [update] = world.temporal.named("sms_status")
    assert update.argument.status == MessageStatus.OPTED_OUT
    assert update.argument.reason == "21610: Attempt to send to unsubscribed recipient"


async def test_a_signed_callback_missing_its_fields_is_a_400_naming_them(world: World) -> None:
    url = status_callback_url(world.public_url, MESSAGE_ID)
    form = {"AccountSid": ACCOUNT_SID, "From": OUR_NUMBER}

    answer = await world.http.post(url, data=form, headers=signed(url, form))

    assert answer.status_code == 400
    assert "MessageSid" in answer.json()["detail"][0]["reason"]


async def test_a_callback_to_an_ended_sequence_is_still_recorded(world: World) -> None:
    world.temporal.ended.add(WORKFLOW)
    await world.send()

    assert world.message().status == MessageStatus.DELIVERED
    assert all(hook.status_code == 204 for hook in world.gateway.webhooks)


# --- inbound texts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["STOP", " stop ", "Unsubscribe", "cancel", "END", "quit", "StopAll", "revoke"]
)
async def test_stop_lists_the_number_and_ends_the_sms_steps(world: World, word: str) -> None:
    answer = await world.text_us(word)

    assert answer["webhook_status"] == 200 and answer["replies"] == []
    assert world.listed(PROSPECT)
    [opt_out] = world.temporal.named("sms_opted_out")
    assert opt_out.workflow_id == WORKFLOW
    assert opt_out.argument == SmsOptOut(key=str(answer["message_sid"]), number=PROSPECT)
    with Session(world.engine) as session:
        entry = session.exec(select(Suppression)).one()
        assert entry.source == "sms_stop"


async def test_start_lifts_the_stop_and_leaves_a_manual_entry(world: World) -> None:
    await world.text_us("STOP")
    await world.text_us("Start")

    assert not world.listed(PROSPECT)
    with Session(world.engine) as session:
        entry = session.exec(select(Suppression)).one()
        assert entry.removed_reason is not None and "Start" in entry.removed_reason

    with Session(world.engine) as session:
        session.add(Suppression(workspace_id=world.workspace_id, address=STRANGER, source="manual"))
        session.commit()
    await world.text_us("UNSTOP", sender=STRANGER)
    assert world.listed(STRANGER)


async def test_help_is_answered_with_the_senders_help_text(world: World) -> None:
    answer = await world.text_us("help")

    assert answer["webhook_status"] == 200
    assert [reply["body"] for reply in answer["replies"]] == [HELP_TEXT]  # type: ignore[index, union-attr]
    assert world.temporal.signals == []


async def test_other_text_from_a_texted_number_is_a_reply(world: World) -> None:
    answer = await world.text_us("  Sure, call me tomorrow at 10  ")

    assert answer["replies"] == []
    [reply] = world.temporal.named("reply_received")
    assert reply.workflow_id == WORKFLOW
    assert isinstance(reply.argument, InboundReply)
    assert reply.argument.key == f"sms:{answer['message_sid']}"
    assert reply.argument.snippet == "Sure, call me tomorrow at 10"
    with Session(world.engine) as session:
        enrollment = session.get_one(Enrollment, world.enrollment_id)
        assert enrollment.halt_status == ProspectStatus.REPLIED
        assert enrollment.reply_snippet == "Sure, call me tomorrow at 10"
    assert not world.listed(PROSPECT)


async def test_a_text_from_an_unknown_number_is_recorded_nowhere(world: World) -> None:
    answer = await world.text_us("who is this?", sender=STRANGER)

    assert answer["webhook_status"] == 200
    assert world.temporal.signals == []
    with Session(world.engine) as session:
        assert session.get_one(Enrollment, world.enrollment_id).halt_status is None


async def test_an_inbound_text_signed_with_another_token_or_to_another_number_is_403(
    world: World,
) -> None:
    url = f"{world.public_url}/sms/inbound"
    form = {
        "MessageSid": "SM3",
        "AccountSid": ACCOUNT_SID,
        "From": PROSPECT,
        "To": OUR_NUMBER,
        "Body": "STOP",
    }
    elsewhere = {**form, "To": "+14155550155"}

    answers = [
        await world.http.post(url, data=form, headers=signed(url, form, "another-token")),
        await world.http.post(url, data=elsewhere, headers=signed(url, elsewhere)),
        await world.http.post(url, data=form),
    ]

    assert [a.status_code for a in answers] == [403] * 3
    assert not world.listed(PROSPECT)
    assert world.temporal.signals == []


async def test_an_oversize_or_non_form_webhook_is_refused_in_the_one_error_shape(
    world: World,
) -> None:
    url = f"{world.public_url}/sms/inbound"
    huge = {"Body": "x" * (70 * 1024), "AccountSid": ACCOUNT_SID, "To": OUR_NUMBER}

    too_big = await world.http.post(url, data=huge)
    not_form = await world.http.post(url, json={"Body": "STOP"})

    assert too_big.status_code == 413
    assert too_big.json()["detail"][0] == {
        "field": "body",
        "reason": "an SMS webhook may be at most 64 KiB (65,536 bytes)",
    }
    assert not_form.status_code == 415
    assert not_form.json()["detail"][0]["field"] == "content-type"


async def test_the_sender_that_took_the_messages_slot_is_the_one_whose_token_counts(
    world: World,
) -> None:
    other_sid, other_token = "AC" + "f" * 32, "the-other-line-token"
    with Session(world.engine) as session:
        other = create_sms_sender(
            session,
            world.workspace_id,
            SmsSenderCreate.model_validate(
                {
                    "name": "Other line",
                    "account_sid": other_sid,
                    "auth_token": other_token,
                    "from_number": STRANGER,
                }
            ),
            Keyring.from_settings(Settings()),
        )
        now = datetime.now(UTC)
        session.add(
            SmsSlotReservation(
                key="slot-1",
                sender_id=other.id or 0,
                enrollment_id=world.enrollment_id,
                position=1,
                slot_at=now,
                slot_day=now.date(),
            )
        )
        session.commit()
    url = status_callback_url(world.public_url, MESSAGE_ID)
    # The form names the first line; the slot says the other one sent the message.
    form = callback_form("SM4", "delivered")

    first = await world.http.post(url, data=form, headers=signed(url, form))
    other_line = await world.http.post(url, data=form, headers=signed(url, form, other_token))

    assert (first.status_code, other_line.status_code) == (403, 204)
    assert world.message().status == MessageStatus.DELIVERED
