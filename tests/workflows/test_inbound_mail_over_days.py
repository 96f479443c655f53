"""Inbound mail over the days a sequence runs, under time skipping.

The real API, pipeline, store, workflows and SMTP sends (to aiosmtpd); only the
clock is Temporal's time-skipping test server, so the test can show what a user
sees days later: a replier never gets the follow-ups, an out-of-office does not
stop anything, and a bounce moves the whole rest of the sequence to the work
address.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from outbound.devstack.fault_sink import FaultSinkHandler, Slow
from outbound.store.tables import Suppression
from outbound.workflows.enrollment import LATE_BOUNCE_WINDOW
from tests.support.inbound_mail import bounce_of, new_message_from, out_of_office, reply_to
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack

STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Two", "delay_days": 2},
    {"subject": "Last note", "body": "Three", "delay_days": 2},
]
PEOPLE = [
    ("Ann", [{"address": "ann@acme.example.com"}]),
    ("Gia", [{"address": "gia.ross+jobs@gmail.com"}]),
    ("Oz", [{"address": "oz@orbit.example.com"}]),
    ("Bob", [
        {"address": "bob@home.example.com", "type": "personal"},
        {"address": "bob@bolt.example.com", "type": "work"},
    ]),
    ("Dan", [{"address": "dan@dyno.example.com"}]),
]  # fmt: skip


async def started(stack: SkippingStack, sink_port: int) -> tuple[int, int, str]:
    """STEPS to PEOPLE, step 1 delivered to all five: (campaign, mailbox, webhook secret)."""
    mailbox_id = await stack.new_mailbox(sink_port, time_zone="Europe/Berlin")
    secret = await stack.inbound_secret(mailbox_id)
    people = [{"first_name": n, "company": "Acme", "addresses": a} for n, a in PEOPLE]
    campaign_id = await stack.started_campaign(STEPS, people, mailbox_id=mailbox_id)

    async def step_one_delivered() -> bool:
        await stack.env.sleep(timedelta(seconds=30))
        return len(stack.sink.received) == len(PEOPLE)

    await eventually(step_one_delivered)
    return campaign_id, mailbox_id, secret


async def post_inbound(stack: SkippingStack, mailbox_id: int, secret: str, raw: bytes) -> str:
    """Post one raw message to the webhook; the pipeline's action, as the answer states it."""
    answer = await stack.post_inbound(mailbox_id, secret, raw)
    return f"{answer['kind']}: {answer['action']}"


async def statuses(stack: SkippingStack, campaign_id: int) -> dict[str, str]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    return {p["name"]: p["status"] for p in view["prospects"]}


async def test_replies_stop_out_of_office_continues_and_a_bounce_moves_to_work_over_days(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    campaign_id, mailbox_id, secret = await started(stack, sink[1].port)

    # Day 0, after step 1: Ann answers in the thread under a subject of her own; Gia writes a
    # new message from the undotted, untagged spelling of her Gmail address; Oz's mailbox
    # answers automatically; Bob's personal address bounces after the server accepted it.
    inbound = [
        reply_to(stack.message_id_to("ann@acme.example.com"), "ann@acme.example.com"),
        new_message_from("Gia Ross <GiaRoss@googlemail.com>"),
        out_of_office(stack.message_id_to("oz@orbit.example.com"), "oz@orbit.example.com"),
        bounce_of(stack.message_id_to("bob@home.example.com"), "bob@home.example.com"),
    ]
    actions = [await post_inbound(stack, mailbox_id, secret, raw) for raw in inbound]
    assert actions[:3] == [
        "reply: reply: the sequence stops",
        "reply: reply: the sequence stops",
        "auto_reply: auto-reply recorded; the sequence goes on",
    ]
    assert actions[3].startswith("bounce: hard bounce (5.1.1") and "suppressed" in actions[3]

    # Two days on (plus up to 20 minutes of jitter), step 2 goes out. Dan's is slow to be
    # accepted, and he answers step 1 while it is being sent: step 2 reaches him once, step 3
    # never does. Time moves to his slot exactly, so the send runs while no time is skipped.
    stack.sink.at_data("dan@dyno.example.com", Slow(3))
    dans_slot = datetime.fromisoformat(
        (await stack.prospect(campaign_id, "Dan"))["steps"][1]["scheduled_at"]
    )
    await stack.env.sleep(dans_slot - await stack.env.get_current_time() + timedelta(seconds=1))

    async def dans_step_two_in_flight() -> bool:
        return stack.sink.attempts["dan@dyno.example.com"] == 2

    await eventually(dans_step_two_in_flight)
    assert "reply" in await post_inbound(
        stack,
        mailbox_id,
        secret,
        reply_to(stack.message_id_to("dan@dyno.example.com"), "dan@dyno.example.com"),
    )

    assert stack.received("dan@dyno.example.com") == ["A role at Acme"]  # step 2 still going

    async def everyone_settled() -> bool:
        await stack.env.sleep(timedelta(hours=6))
        return set((await statuses(stack, campaign_id)).values()) <= {"Replied", "Completed"}

    await eventually(everyone_settled, seconds=120)
    await stack.env.sleep(LATE_BOUNCE_WINDOW + timedelta(days=1))
    await asyncio.sleep(0.5)  # anything still due would have reached the sink by now

    assert stack.received("ann@acme.example.com") == ["A role at Acme"]
    assert stack.received("gia.ross+jobs@gmail.com") == ["A role at Acme"]
    assert stack.received("oz@orbit.example.com") == ["A role at Acme", "Following up", "Last note"]
    assert stack.received("bob@home.example.com") == ["A role at Acme"]
    assert stack.received("bob@bolt.example.com") == [
        "A role at Acme",
        "Following up",
        "Last note",
    ]
    assert stack.received("dan@dyno.example.com") == ["A role at Acme", "Following up"]
    assert await statuses(stack, campaign_id) == {
        "Ann": "Replied",
        "Gia": "Replied",
        "Oz": "Completed",
        "Bob": "Completed",
        "Dan": "Replied",
    }
    with Session(stack.engine) as session:
        assert session.exec(select(Suppression.address)).all() == ["bob@home.example.com"]
