"""Inbox sync on a real IMAP server: replies, auto-replies and bounces appended to dovecot stop,
continue or redirect exactly the right prospects (API → InboxSync workflow → IMAP → pipeline)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from outbound.store.tables import InboundEvent
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.e2e.test_inbound_webhook import STEPS, prospect, sent_to
from tests.support.factories import CONSENT
from tests.support.imap_server import ImapTestServer
from tests.support.inbound_mail import (
    bounce_of,
    nested_multipart,
    new_message_from,
    out_of_office,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

PEOPLE = [
    ("Ann", [{"address": "ann.lee@gmail.com"}]),
    ("Bob", [
        {"address": "bob@home.example.com", "type": "personal"},
        {"address": "bob@bolt.example.com", "type": "work"},
    ]),
    ("Cem", [{"address": "cem@cogs.example.org"}]),
    ("Dia", [{"address": "dia@dyno.example.org"}]),
]  # fmt: skip


async def test_the_inbox_stops_continues_or_redirects_exactly_the_right_prospects(
    stack: Stack, imap_server: ImapTestServer
) -> None:
    imap_server.reset()
    mailbox_id = await create_mailbox(stack)
    imap = imap_server.settings()
    wrong = await stack.api.put(f"/mailboxes/{mailbox_id}/imap", json={**imap, "password": "x"})
    assert wrong.status_code == 422 and "password" in wrong.text
    synced = await stack.api.put(f"/mailboxes/{mailbox_id}/imap", json=imap)
    assert synced.status_code == 200, synced.text
    assert imap_server.password not in synced.text

    async def sync_positioned() -> bool:
        answer = await stack.api.post(f"/mailboxes/{mailbox_id}/imap/poll")
        return bool(answer.json()["uidvalidity"] is not None)

    await eventually(sync_positioned)
    campaign_id = await create_campaign(stack, mailbox_id, STEPS)
    people = [{"first_name": n, "company": "Acme", "addresses": a} for n, a in PEOPLE]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_sent() -> bool:
        return len(stack.sink.received) == 4

    await eventually(step_one_sent)
    imap_server.append(nested_multipart(5_000))  # unreadable: recorded, and the poll goes on
    imap_server.append(new_message_from("Ann Lee <Ann.Lee+work@googlemail.com>"))
    imap_server.append(
        out_of_office(sent_to(stack, "cem@cogs.example.org"), "cem@cogs.example.org")
    )
    imap_server.append(bounce_of(sent_to(stack, "bob@home.example.com"), "bob@home.example.com"))
    await stack.api.post(f"/mailboxes/{mailbox_id}/imap/poll")

    async def settled() -> bool:
        ann = await prospect(stack, campaign_id, "Ann")
        bob = await prospect(stack, campaign_id, "Bob")
        to_work = any(r.envelope_to == ["bob@bolt.example.com"] for r in stack.sink.received)
        # The sink sees the resend a moment before the workflow mirrors it to the database.
        resent = bob["status"] == "Active" and bob["steps"][0]["status"] == "Sent"
        return ann["status"] == "Replied" and to_work and resent

    await eventually(settled)
    states: dict[str, Any] = {name: await prospect(stack, campaign_id, name) for name, _ in PEOPLE}
    assert states["Ann"]["reply_snippet"] == "Yes, interested. Ann"
    assert [s["status"] for s in states["Ann"]["steps"]] == ["Sent", "Stopped"]
    for goes_on in ("Bob", "Cem", "Dia"):
        assert states[goes_on]["status"] == "Active", goes_on
    assert states["Bob"]["email"] == "bob@bolt.example.com"
    with Session(stack.engine) as session:
        kinds = {e.sender: (e.kind, e.matched_by) for e in session.exec(select(InboundEvent))}
        (unreadable,) = session.exec(select(InboundEvent).where(col(InboundEvent.sender).is_(None)))
    assert unreadable.raw is not None and "nesting deeper than 32" in unreadable.why
    assert kinds == {
        None: ("unreadable", None),
        "ann.lee+work@googlemail.com": ("reply", "sender"),
        "cem@cogs.example.org": ("auto_reply", "thread"),
        "mailer-daemon@mx.example.net": ("bounce", "thread"),
    }
    assert len(stack.sink.received) == 5  # step 1 to each, and again to Bob's work address
