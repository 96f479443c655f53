"""Recovering from failures through the API: reconnect a mailbox, retry, change the address.

Real stack (API → dev server → worker → aiosmtplib → scripted aiosmtpd); the
assertions are what the SMTP server received and what the API shows.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from outbound.devstack.fault_sink import Answer
from outbound.store.tables import Suppression
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view, create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

ONE_STEP = [{"subject": "Hi {{ first_name }}", "body": "One"}]


async def add_people(stack: Stack, campaign_id: int, *addresses: str) -> list[int]:
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": a.split("@")[0], "addresses": [{"address": a}]} for a in addresses],
    )
    assert added.status_code == 201, added.text
    return list(added.json()["prospect_ids"])


async def start(stack: Stack, campaign_id: int) -> None:
    answer = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert answer.status_code == 202, answer.text


async def prospect(stack: Stack, campaign_id: int, prospect_id: int) -> dict[str, Any]:
    answer = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{prospect_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def received_by(stack: Stack) -> Counter[str]:
    return Counter(r.envelope_to[0] for r in stack.sink.received)


async def test_a_revoked_password_parks_the_campaign_until_a_reconnect_delivers_each_once(
    stack: Stack,
) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    people = await add_people(stack, campaign_id, "ann@a.example", "bob@b.example", "cem@c.example")
    await start(stack, campaign_id)
    stack.sink.refuse_logins = True  # the password is revoked after Start checked it

    async def parked() -> bool:
        views = [await prospect(stack, campaign_id, p) for p in people]
        return all((v["reason"] or "").startswith("MailboxDisconnected") for v in views)

    await eventually(parked)
    mailbox = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert mailbox["connection_state"] == "needs_reauth"
    assert "535" in mailbox["connection_problem"]
    assert stack.sink.received == []

    refused = await stack.api.post(
        f"/mailboxes/{mailbox_id}/reconnect", json={"username": "ada", "password": "still-wrong"}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "password"
    assert "still-wrong" not in refused.text

    stack.sink.refuse_logins = False
    reconnected = await stack.api.post(
        f"/mailboxes/{mailbox_id}/reconnect", json={"username": "ada", "password": "new-pass"}
    )
    assert reconnected.status_code == 200, reconnected.text
    assert reconnected.json()["sequences_resumed"] == 3
    assert reconnected.json()["mailbox"]["connection_state"] == "connected"
    assert "new-pass" not in reconnected.text

    async def completed() -> bool:
        return (await campaign_view(stack, campaign_id))["campaign"]["status"] == "Completed"

    await eventually(completed)
    assert received_by(stack) == {"ann@a.example": 1, "bob@b.example": 1, "cem@c.example": 1}
    views = [await prospect(stack, campaign_id, p) for p in people]
    assert {(v["status"], v["reason"]) for v in views} == {("Completed", None)}


async def test_start_is_refused_while_the_mailbox_login_fails(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    await add_people(stack, campaign_id, "ann@a.example")
    stack.sink.refuse_logins = True

    answer = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 409
    assert "535" in answer.text and "reconnect" in answer.text
    mailbox = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert mailbox["connection_state"] == "needs_reauth"
    assert (await campaign_view(stack, campaign_id))["campaign"]["status"] != "InProgress"


async def test_a_rejected_message_waits_for_retry_and_an_address_change_and_bulk_retry_deliver(
    stack: Stack,
) -> None:
    spam = Answer(550, "5.7.1 Message rejected as spam by Content Filtering")
    stack.sink.at_data("ann@a.example", spam)
    stack.sink.at_data("bob@b.example", spam)
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    ann, bob = await add_people(stack, campaign_id, "ann@a.example", "bob@b.example")
    await start(stack, campaign_id)

    async def both_failed() -> bool:
        views = [await prospect(stack, campaign_id, p) for p in (ann, bob)]
        return all(v["status"] == "Failed" for v in views)

    await eventually(both_failed)
    ann_view = await prospect(stack, campaign_id, ann)
    assert ann_view["reason"] == "Spam"
    assert ann_view["messages"][0]["failure_reason"].startswith("spam: 550 5.7.1")
    assert stack.sink.received == []

    changed = await stack.api.put(
        f"/campaigns/{campaign_id}/prospects/{ann}/address", json={"address": "ann@new.example"}
    )
    assert changed.status_code == 200, changed.text
    retried = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ann}/retry", json={})
    assert retried.status_code == 200, retried.text
    again = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ann}/retry", json={})
    assert again.status_code in (200, 409)  # Failed a moment ago, maybe not any more

    bulk = await stack.api.post(f"/campaigns/{campaign_id}/retry", json={})
    assert bulk.status_code == 200, bulk.text
    assert bob in bulk.json()["done"]

    async def completed() -> bool:
        return (await campaign_view(stack, campaign_id))["campaign"]["status"] == "Completed"

    await eventually(completed)
    assert received_by(stack) == {"ann@new.example": 1, "bob@b.example": 1}
    ann_log = (await prospect(stack, campaign_id, ann))["messages"]
    assert sorted((m["to_address"], m["status"]) for m in ann_log) == [
        ("ann@a.example", "Failed"),
        ("ann@new.example", "Sent"),
    ]


async def test_retry_of_a_prospect_that_has_not_failed_is_a_409(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    [ann] = await add_people(stack, campaign_id, "ann@a.example")
    await start(stack, campaign_id)

    async def sent() -> bool:
        return received_by(stack)["ann@a.example"] == 1

    await eventually(sent)
    answer = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ann}/retry", json={})

    assert answer.status_code == 409
    assert "Failed" in answer.text


async def test_a_daily_limit_answer_holds_the_mailbox_until_the_next_day(stack: Stack) -> None:
    stack.sink.at_rcpt(
        "ann@a.example",
        Answer(550, "5.4.5 Daily user sending limit exceeded. For more information on Gmail"),
    )
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    [ann] = await add_people(stack, campaign_id, "ann@a.example")
    await start(stack, campaign_id)

    async def rescheduled() -> bool:
        mailbox = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
        log = (await prospect(stack, campaign_id, ann))["messages"]
        return (
            mailbox["throttled_until"] is not None
            and log[0]["scheduled_at"] is not None
            and log[0]["scheduled_at"] >= mailbox["throttled_until"]
        )

    await eventually(rescheduled)
    mailbox = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    held_until = datetime.fromisoformat(mailbox["throttled_until"])
    berlin = ZoneInfo("Europe/Berlin")  # the next day of the mailbox's own calendar
    tomorrow = datetime.now(berlin).date() + timedelta(days=1)
    assert held_until == datetime.combine(tomorrow, time(0), berlin)
    [message] = (await prospect(stack, campaign_id, ann))["messages"]
    assert datetime.fromisoformat(message["scheduled_at"]) >= held_until
    assert stack.sink.attempts["ann@a.example"] == 1
    assert (await prospect(stack, campaign_id, ann))["status"] != "Failed"

    # Another campaign on the same mailbox waits for the limit to lift too.
    other = await create_campaign(stack, mailbox_id, ONE_STEP)
    [bob] = await add_people(stack, other, "bob@b.example")
    await start(stack, other)

    async def bob_scheduled() -> bool:
        log = (await prospect(stack, other, bob))["messages"]
        return bool(log) and log[0]["scheduled_at"] is not None

    await eventually(bob_scheduled)
    [bobs] = (await prospect(stack, other, bob))["messages"]
    assert datetime.fromisoformat(bobs["scheduled_at"]) >= held_until
    assert stack.sink.received == []


async def test_a_hard_bounce_suppresses_the_address_for_later_campaigns(stack: Stack) -> None:
    stack.sink.at_rcpt("bob@b.example", Answer(550, "5.1.1 The email account does not exist"))
    mailbox_id = await create_mailbox(stack)
    first = await create_campaign(stack, mailbox_id, ONE_STEP)
    [bob] = await add_people(stack, first, "bob@b.example")
    await start(stack, first)

    async def bounced() -> bool:
        return (await prospect(stack, first, bob))["status"] == "Bounced"

    await eventually(bounced)
    with Session(stack.engine) as session:
        entries = session.exec(select(Suppression)).all()
    assert [(e.address, e.source) for e in entries] == [("bob@b.example", "hard_bounce")]

    second = await create_campaign(stack, mailbox_id, ONE_STEP)
    refused = await stack.api.post(
        f"/campaigns/{second}/prospects",
        json=[{"first_name": "Bob", "addresses": [{"address": "Bob@B.example"}]}],
    )
    assert refused.status_code == 409 and "suppression list" in refused.text
    [cem] = await add_people(stack, second, "cem@c.example")
    await start(stack, second)

    async def sent() -> bool:
        return (await prospect(stack, second, cem))["status"] == "Completed"

    await eventually(sent)
    assert stack.sink.attempts["bob@b.example"] == 1  # never tried again
    assert [r.envelope_to for r in stack.sink.received] == [["cem@c.example"]]
