"""One SMS step of one enrollment in a real database, with the SMS activities pointed
at the local gateway (``tests/sms/conftest.py``) and status callbacks at the receiver."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from outbound.activities.sms import SmsActivities
from outbound.devstack.sms_gateway import SmsGateway
from outbound.domain.sms_sequence import SendSmsRequest
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.slots import sms_message_id
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Message,
    Prospect,
    SmsSender,
    Step,
)
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Receiver
from tests.support.accounts import a_workspace

PROSPECT = "+15550100001"


@dataclass(frozen=True)
class World:
    """One SMS step of one enrollment, the activities, and the gateway they talk to."""

    engine: Engine
    settings: Settings
    activities: SmsActivities
    gateway: SmsGateway
    workspace_id: int
    sender_id: int
    enrollment_id: int
    campaign_id: int
    prospect_id: int
    mailbox_id: int

    def request(self, to: str = PROSPECT) -> SendSmsRequest:
        return SendSmsRequest(
            enrollment_id=self.enrollment_id, position=1, sender_id=self.sender_id, to_number=to
        )

    def message(self, to: str = PROSPECT) -> Message:
        with Session(self.engine) as session:
            return session.exec(
                select(Message).where(
                    Message.message_id == sms_message_id(self.enrollment_id, 1, to)
                )
            ).one()


@pytest.fixture
def world(engine: Engine, gateway: SmsGateway, receiver: Receiver) -> World:
    settings = Settings(sms_api_base_url=gateway.url, public_base_url=receiver.url)
    with Session(engine) as session:
        workspace_id, owner = a_workspace(session)
        sender = SmsSender(
            workspace_id=workspace_id,
            name="line",
            account_sid=ACCOUNT_SID,
            auth_token_encrypted=Keyring.from_settings(settings).encrypt(AUTH_TOKEN),
            from_number=OUR_NUMBER,
            send_days=list(range(7)),
            send_start="00:00",
            send_end="24:00",
        )
        mailbox = Mailbox(
            workspace_id=workspace_id,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="a@x.org",
        )
        prospect = Prospect(workspace_id=workspace_id, first_name="Ada")
        session.add_all([sender, mailbox, prospect])
        session.flush()
        campaign = Campaign(
            workspace_id=workspace_id,
            name="texts",
            owner_user_id=owner,
            mailbox_id=mailbox.id or 0,
            status="InProgress",
            grace_seconds=0,
        )
        session.add(campaign)
        session.flush()
        step = Step(
            campaign_id=campaign.id or 0,
            position=1,
            kind="sms",
            body="Hi {{ first_name }}, got a minute?",
            thread_mode="new_thread",
        )
        enrollment = Enrollment(
            workspace_id=workspace_id,
            campaign_id=campaign.id or 0,
            prospect_id=prospect.id or 0,
            status="Active",
        )
        session.add_all([step, enrollment])
        session.commit()
        ids = (workspace_id, sender.id or 0, enrollment.id or 0)
        ids_more = (campaign.id or 0, prospect.id or 0, mailbox.id or 0)
    return World(engine, settings, SmsActivities(engine, settings), gateway, *ids, *ids_more)
