"""Company rules over days (time skipping): a reply stops, or pauses, the replier's colleagues.

The real API, inbound webhook, store, worker and SMTP sends (to aiosmtpd); only the
clock is Temporal's time-skipping server. In the campaign with the rule ``stop``,
Ann's reply stops Bob (same domain) and Eve (a gmail address, but the same company
field) with the reason ColleagueReplied, while Cid (gmail, no company) and Dee
(another company) get every step. In the campaign with ``pause``, Fay's reply pauses
Gus (same domain); Hal (hotmail) goes on; Resume sends Gus the rest. With
``one_per_company``, Ivy's colleague Jon waits (NotStarted, WaitingForColleague) until
Ivy's sequence ends, then gets his steps.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiosmtpd.controller import Controller

from outbound.devstack.fault_sink import FaultSinkHandler
from tests.support.inbound_mail import reply_to
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack

STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Two", "delay_days": 2},
    {"subject": "Last note", "body": "Three", "delay_days": 2},
]
SUBJECTS = ["A role at {}", "Following up", "Last note"]


def person(name: str, address: str, company: str) -> dict[str, Any]:
    return {"first_name": name, "company": company, "addresses": [{"address": address}]}


STOP_PEOPLE = [
    person("Ann", "ann@acme.example.com", "Acme"),
    person("Bob", "bob@acme.example.com", "Acme Inc"),
    person("Cid", "cid@gmail.com", "Solo"),
    person("Dee", "dee@other.example.org", "Other"),
    person("Eve", "eve@gmail.com", "ACME"),
]
PAUSE_PEOPLE = [
    person("Fay", "fay@fabrik.example.de", "Fabrik"),
    person("Gus", "gus@fabrik.example.de", "Fabrik GmbH"),
    person("Hal", "hal@hotmail.com", "Fabrik Partners"),
]


async def reply(stack: SkippingStack, mailbox_id: int, secret: str, address: str) -> None:
    answer = await stack.post_inbound(
        mailbox_id, secret, reply_to(stack.message_id_to(address), address)
    )
    assert answer["action"] == "reply: the sequence stops"


async def sent(stack: SkippingStack, count: int) -> None:
    async def all_sent() -> bool:
        await stack.env.sleep(timedelta(hours=6))
        return len(stack.sink.received) >= count

    await eventually(all_sent, seconds=60)


def subjects(company: str, steps: int) -> list[str]:
    return [s.format(company) for s in SUBJECTS[:steps]]


async def test_a_reply_stops_or_pauses_colleagues_but_not_free_mail_or_other_companies(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    mailbox_id = await stack.new_mailbox(sink[1].port, time_zone="UTC")
    secret = await stack.inbound_secret(mailbox_id)
    stopping = await stack.started_campaign(
        STEPS, STOP_PEOPLE, mailbox_id=mailbox_id, company_rule="stop"
    )
    pausing = await stack.started_campaign(
        STEPS, PAUSE_PEOPLE, mailbox_id=mailbox_id, company_rule="pause"
    )
    await sent(stack, 8)  # step 1 to everyone

    await reply(stack, mailbox_id, secret, "ann@acme.example.com")
    await reply(stack, mailbox_id, secret, "fay@fabrik.example.de")

    async def colleagues_held() -> bool:
        bob, gus = await stack.prospect(stopping, "Bob"), await stack.prospect(pausing, "Gus")
        return bool(bob["status"] == "Stopped" and gus["status"] == "Paused")

    await eventually(colleagues_held)
    await sent(stack, 8 + 2 * 3)  # steps 2 and 3 to Cid, Dee and Hal

    for name in ("Bob", "Eve"):
        held = await stack.prospect(stopping, name)
        assert (held["status"], held["reason"]) == ("Stopped", "ColleagueReplied")
        assert [s["status"] for s in held["steps"]] == ["Sent", "Stopped", "Stopped"]
    gus = await stack.prospect(pausing, "Gus")
    assert (gus["status"], gus["reason"]) == ("Paused", "ColleagueReplied")
    assert (await stack.prospect(stopping, "Ann"))["status"] == "Replied"
    for address, company in (
        ("cid@gmail.com", "Solo"),
        ("dee@other.example.org", "Other"),
        ("hal@hotmail.com", "Fabrik Partners"),
    ):
        assert stack.received(address) == subjects(company, 3)
    for address, company in (
        ("bob@acme.example.com", "Acme Inc"),
        ("eve@gmail.com", "ACME"),
        ("gus@fabrik.example.de", "Fabrik GmbH"),
    ):
        assert stack.received(address) == subjects(company, 1)

    resumed = await stack.api.post(f"/campaigns/{pausing}/prospects/{gus['prospect_id']}/resume")
    assert resumed.status_code == 200, resumed.text
    await sent(stack, 8 + 2 * 3 + 2)

    assert stack.received("gus@fabrik.example.de") == subjects("Fabrik GmbH", 3)
    gus = await stack.prospect(pausing, "Gus")
    assert (gus["status"], gus["reason"]) == ("Completed", None)


async def test_one_prospect_per_company_at_a_time(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    mailbox_id = await stack.new_mailbox(sink[1].port, time_zone="UTC")
    people = [
        person("Ivy", "ivy@initech.example.com", "Initech"),
        person("Jon", "jon@initech.example.com", "Initech"),
        person("Kim", "kim@gmail.com", "Initrode"),
    ]
    campaign_id = await stack.started_campaign(
        STEPS, people, mailbox_id=mailbox_id, one_per_company=True
    )
    await sent(stack, 2)  # Ivy and Kim

    jon = await stack.prospect(campaign_id, "Jon")
    assert (jon["status"], jon["reason"]) == ("NotStarted", "WaitingForColleague")
    assert [s["status"] for s in jon["steps"]] == ["Pending", "Pending", "Pending"]
    assert stack.received("jon@initech.example.com") == []

    await sent(stack, 6 + 3)  # Ivy's sequence ends (Completed): then Jon's goes

    ivy_steps = (await stack.prospect(campaign_id, "Ivy"))["steps"]
    jon = await stack.prospect(campaign_id, "Jon")
    assert stack.received("jon@initech.example.com") == subjects("Initech", 3)
    assert jon["steps"][0]["sent_at"] >= ivy_steps[2]["sent_at"]
    assert (jon["status"], jon["reason"]) == ("Completed", None)
