"""A send attempt cut off by a dead worker: resent only if it cannot have delivered.

The worker-kill drill (drills/worker_kills.py) found the same message twice at
the sink: a worker killed after the server's 250 but before Sent was recorded,
then the retried activity sent it again. Here the send activity runs as
Temporal runs a retry, against the real SMTP sink and database, after a message
log row left exactly as a killed attempt leaves it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from outbound.activities.delivery import DeliveryActivities
from outbound.devstack.fault_sink import Slow
from outbound.domain.sequence import SendStepRequest
from outbound.domain.statuses import MessageStatus, ThreadMode
from outbound.mail.compose import make_message_id
from outbound.store.encryption import Keyring
from outbound.store.tables import Enrollment, Mailbox, Message
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.support.imap_server import ImapTestServer

pytestmark = pytest.mark.e2e


async def cut_off_attempt(stack: Stack, *, handed_over: bool) -> SendStepRequest:
    """A prospect whose step 1 attempt died in flight, before (or after) the DATA command."""
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, [{"subject": "Hi", "body": "One"}])
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": "Ann", "addresses": [{"address": "ann@example.org"}]}],
    )
    assert added.status_code == 201, added.text
    with Session(stack.engine) as session:
        enrollment = session.exec(
            select(Enrollment).where(Enrollment.campaign_id == campaign_id)
        ).one()
        assert enrollment.id is not None
        session.add(
            Message(
                enrollment_id=enrollment.id,
                position=1,
                to_address="ann@example.org",
                message_id=make_message_id(
                    enrollment.id, 1, "ada@hiring.example.com", "ann@example.org"
                ),
                status=MessageStatus.SENDING.value,
                attempts=1,
                handed_over_at=datetime.now(UTC) if handed_over else None,
            )
        )
        session.commit()
        return SendStepRequest(
            enrollment_id=enrollment.id,
            position=1,
            to_address="ann@example.org",
            thread_mode=ThreadMode.NEW_THREAD,
        )


def logged(stack: Stack, request: SendStepRequest) -> Message:
    with Session(stack.engine) as session:
        return session.exec(
            select(Message).where(Message.enrollment_id == request.enrollment_id)
        ).one()


async def test_an_attempt_cut_off_after_handing_the_message_over_is_not_resent(
    stack: Stack,
) -> None:
    request = await cut_off_attempt(stack, handed_over=True)
    delivery = DeliveryActivities(stack.engine, stack.settings)

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(delivery.send_step, request)

    assert refused.value.type == "unknown" and refused.value.non_retryable
    assert stack.sink.received == []
    message = logged(stack, request)
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason is not None
    assert message.failure_reason.startswith("unknown: the previous attempt stopped")

    # The user's Retry is a decision to send it again: it goes, once.
    await ActivityEnvironment().run(delivery.send_step, request)
    assert [r.envelope_to for r in stack.sink.received] == [["ann@example.org"]]
    assert logged(stack, request).status == MessageStatus.SENT


async def test_an_attempt_cut_off_before_the_message_went_is_sent_by_the_retry(
    stack: Stack,
) -> None:
    request = await cut_off_attempt(stack, handed_over=False)
    delivery = DeliveryActivities(stack.engine, stack.settings)

    result = await ActivityEnvironment().run(delivery.send_step, request)

    assert [r.envelope_to for r in stack.sink.received] == [["ann@example.org"]]
    sent = logged(stack, request)
    assert (sent.status, sent.message_id) == (MessageStatus.SENT, result.message_id)
    assert sent.handed_over_at is not None  # this attempt's own mark, kept with the record


async def test_a_cut_off_attempt_whose_copy_is_in_the_sent_folder_is_recorded_sent(
    stack: Stack, imap_server: ImapTestServer
) -> None:
    imap_server.reset()
    request = await cut_off_attempt(stack, handed_over=True)
    with Session(stack.engine) as session:
        mailbox = session.exec(select(Mailbox)).one()
        mailbox.imap_host, mailbox.imap_port = imap_server.host, imap_server.port
        mailbox.imap_tls = False
        mailbox.imap_username = imap_server.user
        keyring = Keyring.from_settings(stack.settings)
        mailbox.imap_password_encrypted = keyring.encrypt(imap_server.password)
        session.add(mailbox)
        session.commit()
    message_id = logged(stack, request).message_id
    imap_server.append(
        f"From: ada@hiring.example.com\r\nTo: ann@example.org\r\nSubject: Hi\r\n"
        f"Message-ID: {message_id}\r\n\r\nOne\r\n".encode(),
        folder="Sent Items",
    )
    delivery = DeliveryActivities(stack.engine, stack.settings)

    result = await ActivityEnvironment().run(delivery.send_step, request)

    assert stack.sink.received == []  # not sent again
    sent = logged(stack, request)
    assert (sent.status, result.message_id) == (MessageStatus.SENT, message_id)
    assert sent.sent_at == sent.handed_over_at  # when it went, not when it was confirmed


async def test_two_overlapping_attempts_of_one_send_deliver_it_once(stack: Stack) -> None:
    """Temporal starts a new attempt when a heartbeat is late, while the first may still
    be running (a worker whose threads are all busy). The worker-kill drill saw the message
    twice at the sink; the last attempt to claim the message is the only one that sends."""
    request = await cut_off_attempt(stack, handed_over=False)
    stack.sink.at_rcpt("ann@example.org", Slow(2))  # the first attempt waits at RCPT
    delivery = DeliveryActivities(stack.engine, stack.settings)

    first = asyncio.create_task(ActivityEnvironment().run(delivery.send_step, request))
    await asyncio.sleep(0.5)
    second = await ActivityEnvironment().run(delivery.send_step, request)
    with pytest.raises(ApplicationError) as superseded:
        await first

    assert superseded.value.type == "Superseded"
    assert [r.envelope_to for r in stack.sink.received] == [["ann@example.org"]]
    sent = logged(stack, request)
    assert (sent.status, sent.message_id) == (MessageStatus.SENT, second.message_id)
