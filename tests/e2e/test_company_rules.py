"""Company rules end to end: a reply through the inbound webhook stops the replier's
colleagues (API → pipeline → workflow → database mirror → colleagues' workflows → database).

Ann and Bob work at acme.example.com; Cid writes from gmail.com (free mail: nobody's
colleague). Ann replies: Bob shows Stopped with the reason ColleagueReplied and his
step 2's slot is given back; Cid's sequence goes on. The days later (nothing more to
Bob, all steps to Cid) are in tests/workflows/test_company_rules.py.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from outbound.store.tables import Enrollment, SlotReservation
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.e2e.test_inbound_webhook import prospect, sent_to
from tests.support.factories import CONSENT
from tests.support.inbound_mail import reply_to
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Two", "delay_days": 2},
]
PEOPLE = [
    {"first_name": name, "company": company, "addresses": [{"address": address}]}
    for name, company, address in (
        ("Ann", "Acme", "ann@acme.example.com"),
        ("Bob", "Acme Labs", "bob@acme.example.com"),
        ("Cid", "Solo", "cid@gmail.com"),
    )
]


async def test_a_reply_stops_the_colleagues_in_the_campaign(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    campaign_id = await create_campaign(stack, mailbox_id, STEPS)
    rules = await stack.api.put(
        f"/campaigns/{campaign_id}/company-rules", json={"company_rule": "stop"}
    )
    assert rules.status_code == 200, rules.text
    assert (rules.json()["company_rule"], rules.json()["one_per_company"]) == ("stop", False)
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=PEOPLE)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_two_scheduled() -> bool:
        people = [await prospect(stack, campaign_id, n) for n in ("Ann", "Bob", "Cid")]
        return all(p["steps"][1]["status"] == "Scheduled" for p in people)

    await eventually(step_two_scheduled)
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}",
        content=reply_to(sent_to(stack, "ann@acme.example.com"), "ann@acme.example.com"),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 202, answer.text

    async def bob_stopped() -> bool:
        return (await prospect(stack, campaign_id, "Bob"))["status"] == "Stopped"

    await eventually(bob_stopped)
    ann, bob, cid = [await prospect(stack, campaign_id, n) for n in ("Ann", "Bob", "Cid")]
    assert ann["status"] == "Replied"
    assert (bob["status"], bob["reason"]) == ("Stopped", "ColleagueReplied")
    assert [s["status"] for s in bob["steps"]] == ["Sent", "Stopped"]
    assert (cid["status"], cid["reason"]) == ("Active", None)
    assert [s["status"] for s in cid["steps"]] == ["Sent", "Scheduled"]
    with Session(stack.engine) as session:
        bob_row = session.exec(
            select(Enrollment).where(
                Enrollment.campaign_id == campaign_id,
                Enrollment.to_address == "bob@acme.example.com",
            )
        ).one()
        slots = session.exec(
            select(SlotReservation).where(col(SlotReservation.key).startswith(f"{bob_row.id}:2:"))
        ).all()
    assert bob_row.halt_status == "Stopped" and bob_row.ended_at is not None
    assert slots and all(s.released_at is not None for s in slots)  # the slot went back
    assert sorted(r.envelope_to[0] for r in stack.sink.received) == [
        "ann@acme.example.com",
        "bob@acme.example.com",
        "cid@gmail.com",
    ]
