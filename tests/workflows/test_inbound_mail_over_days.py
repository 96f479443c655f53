"""Inbound mail over the days a sequence runs, under time skipping.

The real API, pipeline, store, workflows and SMTP sends (to aiosmtpd); only the
clock is Temporal's time-skipping test server, so the test can show what a user
sees days later: a replier never gets the follow-ups, an out-of-office does not
stop anything, and a bounce moves the whole rest of the sequence to the work
address.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound.api.in_process import in_process_clients
from outbound.devstack.fault_sink import FaultSinkHandler, Slow
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Suppression
from outbound.worker import build_worker
from outbound.workflows.enrollment import LATE_BOUNCE_WINDOW
from tests.support.factories import CONSENT
from tests.support.inbound_mail import bounce_of, new_message_from, out_of_office, reply_to
from tests.support.polling import eventually
from tests.support.temporal import binary, register_search_attributes

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


@dataclass
class SkippingStack:
    api: httpx.AsyncClient
    public: httpx.AsyncClient
    env: WorkflowEnvironment
    sink: FaultSinkHandler
    settings: Settings
    engine: Any

    def received(self, address: str) -> list[str]:
        """Subjects the sink received for ``address``, in order."""
        return [str(r.message["Subject"]) for r in self.sink.received if r.envelope_to == [address]]

    def message_id_to(self, address: str) -> str:
        (first, *_) = [r.message for r in self.sink.received if r.envelope_to == [address]]
        return str(first["Message-ID"])


def virtual_clock() -> datetime:
    """The server's (skipped) time when this send attempt was scheduled: the moment a slot's
    timer fired, where the wall clock would be days behind."""
    return activity.info().current_attempt_scheduled_time


@pytest.fixture
async def skipping_stack(
    sink: tuple[FaultSinkHandler, Controller], tmp_path: Path
) -> AsyncIterator[SkippingStack]:
    """A time-skipping server of its own: workflow ids derive from this test's database ids."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/outbound.db",
        task_queue=f"inbound-days-{uuid.uuid4()}",
        public_base_url="http://outbound.test",
        check_address_dns=False,
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    worker = build_worker(
        env.client,
        engine,
        settings,
        send_clock=virtual_clock,
        workflow_failure_exception_types=[Exception],
    )
    try:
        async with (
            worker,
            in_process_clients(settings, engine, env.client) as clients,
        ):
            yield SkippingStack(clients.api, clients.public, env, sink[0], settings, engine)
    finally:
        engine.dispose()
        await env.shutdown()


async def started(stack: SkippingStack, sink_port: int) -> tuple[int, int, str]:
    """STEPS to PEOPLE, step 1 delivered to all five: (campaign, mailbox, webhook secret)."""
    mailbox = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink_port,
            "tls_mode": "none",
            "from_name": "Ada Recruiter",
            "from_address": "ada@hiring.example.com",
            "time_zone": "Europe/Berlin",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1000,
        },
    )
    assert mailbox.status_code == 201, mailbox.text
    mailbox_id = int(mailbox.json()["id"])
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    campaign = await stack.api.post(
        "/campaigns",
        json={"name": "Inbound", "mailbox_id": mailbox_id, "grace_seconds": 1, "steps": STEPS},
    )
    campaign_id = int(campaign.json()["id"])
    people = [{"first_name": n, "company": "Acme", "addresses": a} for n, a in PEOPLE]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_delivered() -> bool:
        await stack.env.sleep(timedelta(seconds=30))
        return len(stack.sink.received) == len(PEOPLE)

    await eventually(step_one_delivered)
    return campaign_id, mailbox_id, secret


async def post_inbound(stack: SkippingStack, mailbox_id: int, secret: str, raw: bytes) -> str:
    """Post one raw message to the webhook; the pipeline's action, as the answer states it."""
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}", content=raw, headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 202, answer.text
    return f"{answer.json()['kind']}: {answer.json()['action']}"


async def prospect(stack: SkippingStack, campaign_id: int, name: str) -> dict[str, Any]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    (row,) = [p for p in view["prospects"] if p["name"] == name]
    answer = await stack.api.get(f"/campaigns/{campaign_id}/prospects/{row['prospect_id']}")
    return dict(answer.json())


async def statuses(stack: SkippingStack, campaign_id: int) -> dict[str, str]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    return {p["name"]: p["status"] for p in view["prospects"]}


async def test_replies_stop_out_of_office_continues_and_a_bounce_moves_to_work_over_days(
    skipping_stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    stack = skipping_stack
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
        (await prospect(stack, campaign_id, "Dan"))["steps"][1]["scheduled_at"]
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
