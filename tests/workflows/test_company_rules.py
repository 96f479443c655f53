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

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from outbound.devstack.fault_sink import FaultSinkHandler
from tests.support.factories import CONSENT
from tests.support.inbound_mail import reply_to
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack, skipping_stack

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


@pytest.fixture
async def stack(
    sink: tuple[FaultSinkHandler, Controller], tmp_path: Path
) -> AsyncIterator[SkippingStack]:
    async with skipping_stack(sink[0], tmp_path) as running:
        yield running


async def mailbox(stack: SkippingStack, sink_port: int) -> tuple[int, str]:
    answer = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink_port,
            "tls_mode": "none",
            "from_name": "Ada Recruiter",
            "from_address": "ada@hiring.example.com",
            "time_zone": "UTC",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1000,
        },
    )
    assert answer.status_code == 201, answer.text
    mailbox_id = int(answer.json()["id"])
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    return mailbox_id, secret


async def campaign(
    stack: SkippingStack, mailbox_id: int, people: list[dict[str, Any]], **rules: Any
) -> int:
    answer = await stack.api.post(
        "/campaigns",
        json={
            "name": "Hiring",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "steps": STEPS,
            **rules,
        },
    )
    assert answer.status_code == 201, answer.text
    campaign_id = int(answer.json()["id"])
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    assert added.is_success, added.text
    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert started.is_success, started.text
    return campaign_id


async def reply(stack: SkippingStack, mailbox_id: int, secret: str, address: str) -> None:
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}",
        content=reply_to(stack.message_id_to(address), address),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["action"] == "reply: the sequence stops"


async def prospect(stack: SkippingStack, campaign_id: int, name: str) -> dict[str, Any]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    (row,) = [p for p in view["prospects"] if p["name"] == name]
    answer = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
    return dict(answer.json())


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
    mailbox_id, secret = await mailbox(stack, sink[1].port)
    stopping = await campaign(stack, mailbox_id, STOP_PEOPLE, company_rule="stop")
    pausing = await campaign(stack, mailbox_id, PAUSE_PEOPLE, company_rule="pause")
    await sent(stack, 8)  # step 1 to everyone

    await reply(stack, mailbox_id, secret, "ann@acme.example.com")
    await reply(stack, mailbox_id, secret, "fay@fabrik.example.de")

    async def colleagues_held() -> bool:
        bob, gus = await prospect(stack, stopping, "Bob"), await prospect(stack, pausing, "Gus")
        return bool(bob["status"] == "Stopped" and gus["status"] == "Paused")

    await eventually(colleagues_held)
    await sent(stack, 8 + 2 * 3)  # steps 2 and 3 to Cid, Dee and Hal

    for name in ("Bob", "Eve"):
        held = await prospect(stack, stopping, name)
        assert (held["status"], held["reason"]) == ("Stopped", "ColleagueReplied")
        assert [s["status"] for s in held["steps"]] == ["Sent", "Stopped", "Stopped"]
    gus = await prospect(stack, pausing, "Gus")
    assert (gus["status"], gus["reason"]) == ("Paused", "ColleagueReplied")
    assert (await prospect(stack, stopping, "Ann"))["status"] == "Replied"
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
    gus = await prospect(stack, pausing, "Gus")
    assert (gus["status"], gus["reason"]) == ("Completed", None)


async def test_one_prospect_per_company_at_a_time(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    mailbox_id, _ = await mailbox(stack, sink[1].port)
    people = [
        person("Ivy", "ivy@initech.example.com", "Initech"),
        person("Jon", "jon@initech.example.com", "Initech"),
        person("Kim", "kim@gmail.com", "Initrode"),
    ]
    campaign_id = await campaign(stack, mailbox_id, people, one_per_company=True)
    await sent(stack, 2)  # Ivy and Kim

    jon = await prospect(stack, campaign_id, "Jon")
    assert (jon["status"], jon["reason"]) == ("NotStarted", "WaitingForColleague")
    assert [s["status"] for s in jon["steps"]] == ["Pending", "Pending", "Pending"]
    assert stack.received("jon@initech.example.com") == []

    await sent(stack, 6 + 3)  # Ivy's sequence ends (Completed): then Jon's goes

    ivy_steps = (await prospect(stack, campaign_id, "Ivy"))["steps"]
    jon = await prospect(stack, campaign_id, "Jon")
    assert stack.received("jon@initech.example.com") == subjects("Initech", 3)
    assert jon["steps"][0]["sent_at"] >= ivy_steps[2]["sent_at"]
    assert (jon["status"], jon["reason"]) == ("Completed", None)
