"""Inbound mail through the webhook: API → pipeline → workflow signal → SMTP sink → database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from outbound.store.tables import InboundEvent, Suppression
from tests.api.test_members import member_client
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view, create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.inbound_mail import bounce_of, reply_to
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Again", "delay_days": 2},
]


async def started_campaign(stack: Stack, plus_addressing: bool = False) -> tuple[int, int, str]:
    """Ann and Bob (who has a work address too), step 1 sent: (campaign, mailbox, secret)."""
    mailbox_id = await create_mailbox(stack, plus_addressing=plus_addressing)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    campaign_id = await create_campaign(stack, mailbox_id, STEPS)
    people = [
        {
            "first_name": "Ann",
            "company": "Acme",
            "addresses": [{"address": "ann.lee+jobs@gmail.com"}],
        },
        {
            "first_name": "Bob",
            "company": "Bolt",
            "addresses": [
                {"address": "bob@home.example.com", "type": "personal"},
                {"address": "bob@bolt.example.com", "type": "work"},
            ],
        },
    ]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_sent() -> bool:
        return len(stack.sink.received) == 2

    await eventually(step_one_sent)
    return campaign_id, mailbox_id, secret


def sent_to(stack: Stack, address: str) -> str:
    (message,) = [r.message for r in stack.sink.received if r.envelope_to == [address]]
    return str(message["Message-ID"])


def events(stack: Stack) -> int:
    with Session(stack.engine) as session:
        return int(session.exec(select(func.count()).select_from(InboundEvent)).one())


async def prospect(stack: Stack, campaign_id: int, first_name: str) -> dict[str, Any]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    (row,) = [p for p in view["prospects"] if p["name"] == first_name]
    detail = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
    return dict(detail.json())


async def test_a_reply_stops_the_sequence_once_and_a_bounce_moves_to_the_work_address(
    stack: Stack,
) -> None:
    campaign_id, mailbox_id, secret = await started_campaign(stack)
    url = f"/inbound/{mailbox_id}"
    auth = {"Authorization": f"Bearer {secret}"}
    # Ann answers from a dotted, untagged spelling of her Gmail address, with a new subject.
    reply = reply_to(sent_to(stack, "ann.lee+jobs@gmail.com"), "annlee@googlemail.com")

    first = await stack.public.post(url, content=reply, headers=auth)
    again = await stack.public.post(url, content=reply, headers=auth)
    bounced = await stack.public.post(
        url,
        content=bounce_of(sent_to(stack, "bob@home.example.com"), "bob@home.example.com"),
        headers=auth,
    )

    assert first.status_code == 202, first.text
    assert (first.json()["kind"], first.json()["matched_by"]) == ("reply", "thread")
    assert again.json()["duplicate"] is True
    assert bounced.json()["kind"] == "bounce" and "suppressed" in bounced.json()["action"]

    async def settled() -> bool:
        ann = await prospect(stack, campaign_id, "Ann")
        bob = await prospect(stack, campaign_id, "Bob")
        # The sink sees the resend a moment before the send is recorded in the database.
        work_sent = any(
            m["to_address"] == "bob@bolt.example.com" and m["status"] == "Sent"
            for m in bob["messages"]
        )
        return ann["status"] == "Replied" and work_sent

    await eventually(settled)
    ann = await prospect(stack, campaign_id, "Ann")
    bob = await prospect(stack, campaign_id, "Bob")
    assert ann["reply_snippet"] == "Happy to talk on Thursday."
    assert [s["status"] for s in ann["steps"]] == ["Sent", "Stopped"]
    assert {m["to_address"]: m["status"] for m in bob["messages"] if m["position"] == 1} == {
        "bob@home.example.com": "Bounced",
        "bob@bolt.example.com": "Sent",
    }
    with Session(stack.engine) as session:
        suppressed = session.exec(select(Suppression.address)).all()
    assert suppressed == ["bob@home.example.com"]
    assert events(stack) == 2  # the repeated reply was not recorded twice
    assert len(stack.sink.received) == 3
    assert (await campaign_view(stack, campaign_id))["counts"]["Replied"] == 1


async def test_wrong_secret_is_401_and_malformed_mime_is_400_and_nothing_is_recorded(
    stack: Stack,
) -> None:
    _, mailbox_id, secret = await started_campaign(stack)
    url = f"/inbound/{mailbox_id}"
    message = reply_to(sent_to(stack, "bob@home.example.com"), "bob@home.example.com")

    missing = await stack.public.post(url, content=message)
    wrong = await stack.public.post(url, content=message, headers={"Authorization": "Bearer nope"})
    other = await stack.public.post(
        "/inbound/999", content=message, headers={"Authorization": f"Bearer {secret}"}
    )
    junk = await stack.public.post(
        url, content=b"\x00\x01\x02 not mail", headers={"Authorization": f"Bearer {secret}"}
    )

    assert [a.status_code for a in (missing, wrong, other)] == [401, 401, 401]
    assert junk.status_code == 400 and "not an RFC 822 message" in junk.text
    assert events(stack) == 0
    assert secret not in wrong.text

    stranger = await stack.public.post(
        url,
        content=reply_to("<not-ours@example.com>", "someone@else.example.com"),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert stranger.status_code == 202
    assert stranger.json()["action"] == "no matching sequence; ignored"
    assert events(stack) == 1  # recorded, and nothing else changed
    assert len(stack.sink.received) == 2


async def test_a_reply_to_a_shared_mailbox_reaches_the_member_s_campaign(stack: Stack) -> None:
    """Sam (a member) sends as the hiring manager's shared mailbox; the reply that comes to
    that mailbox ends Sam's sequence, and Sam sees it; another member sees nothing."""
    mailbox_id = await create_mailbox(stack)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    sam_id, sam = await member_client(stack.api, "sam@example.com")
    _, kim = await member_client(stack.api, "kim@example.com")
    granted = await stack.api.post(f"/mailboxes/{mailbox_id}/grants", json={"user_id": sam_id})
    assert granted.status_code == 201, granted.text
    made = await sam.post(
        "/campaigns",
        json={"name": "Sam's", "mailbox_id": mailbox_id, "grace_seconds": 1, "steps": STEPS},
    )
    assert made.status_code == 201, made.text
    campaign_id = made.json()["id"]
    ann = {"first_name": "Ann", "company": "Acme", "addresses": [{"address": "ann@acme.example"}]}
    assert (await sam.post(f"/campaigns/{campaign_id}/prospects", json=[ann])).is_success
    assert (await sam.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_sent() -> bool:
        return len(stack.sink.received) == 1

    await eventually(step_one_sent)
    reply = reply_to(sent_to(stack, "ann@acme.example"), "ann@acme.example")
    posted = await stack.public.post(
        f"/inbound/{mailbox_id}", content=reply, headers={"Authorization": f"Bearer {secret}"}
    )
    assert posted.status_code == 202 and posted.json()["kind"] == "reply", posted.text

    async def replied() -> bool:
        view = (await sam.get(f"/campaigns/{campaign_id}")).json()
        return [p["status"] for p in view["prospects"]] == ["Replied"]

    await eventually(replied)
    view = (await sam.get(f"/campaigns/{campaign_id}")).json()
    detail = await sam.get(
        f"/campaigns/{campaign_id}/prospects/{view['prospects'][0]['prospect_id']}"
    )
    assert detail.json()["reply_snippet"] == "Happy to talk on Thursday."
    assert view["campaign"]["owner"] == "sam@example.com"
    assert (await kim.get(f"/campaigns/{campaign_id}")).status_code == 404
    assert len(stack.sink.received) == 1  # step 2 never went
    await sam.aclose()
    await kim.aclose()
