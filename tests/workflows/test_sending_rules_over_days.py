"""Mailbox rotation, days off and the warm-up ramp over days, under time skipping.

The real API, store, worker and SMTP sends (to aiosmtpd); only the clock is Temporal's
time-skipping server.

- Rotation: a campaign sends from a pool of three mailboxes. Each prospect's three
  messages come from one mailbox, one thread; the pool's mailboxes share the prospects.
  When one mailbox's password changes it is parked: new prospects go to the others, its
  own prospects wait for it and, after a reconnect, go on from it.
- Days off: a follow-up due on the campaign's blackout date, or on a public holiday of
  the mailbox's calendar, goes out at the window's opening on the next open day; nothing
  goes out on a day off.
- Warm-up: a ramp of 2 a day plus 1 each day sends 2 on its first day, 3 on its second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.sink import ReceivedMessage
from outbound.store.tables import Enrollment
from tests.support.factories import CONSENT
from tests.support.polling import eventually
from tests.support.sinks import running_sink
from tests.support.skipping_stack import SkippingStack

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ADA, BEA, CYD = "ada@hiring.example.com", "bea@hiring.example.com", "cyd@hiring.example.com"
THREAD: list[dict[str, Any]] = [
    {"subject": "A role", "body": "Hi {{ first_name }}"},
    {"subject": "A role", "body": "Two", "delay_days": 2, "thread_mode": "same_thread"},
    {"subject": "A role", "body": "Three", "delay_days": 2, "thread_mode": "same_thread"},
]
FIRST = [f"p{n}@firm{n}.example.com" for n in range(6)]
LATER = [f"q{n}@shop{n}.example.org" for n in range(4)]
BERLIN_DAYTIME = {
    "time_zone": "Europe/Berlin",
    "send_start": "08:00",
    "send_end": "20:00",
    "min_gap_seconds": 60,
}


@pytest.fixture
def cyd_sink() -> Iterator[tuple[FaultSinkHandler, Controller]]:
    """Cyd's own SMTP server, so that her login alone can be refused."""
    with running_sink(FaultSinkHandler()) as running:
        yield running


async def new_mailbox(stack: SkippingStack, port: int, address: str, **fields: Any) -> int:
    """A mailbox that logs in as ``address``, 10 minutes between sends."""
    login = {"username": address, "password": "secret", "from_address": address}
    return await stack.new_mailbox(port, **{"min_gap_seconds": 600, **login, **fields})


async def new_campaign(stack: SkippingStack, steps: list[dict[str, Any]], **fields: Any) -> int:
    body = {"name": "Over days", "grace_seconds": 1, "steps": steps, **fields}
    answer = await stack.api.post("/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def add(stack: SkippingStack, campaign_id: int, addresses: list[str]) -> None:
    people = [{"first_name": "P", "addresses": [{"address": a}]} for a in addresses]
    answer = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    assert answer.is_success, answer.text


async def start(stack: SkippingStack, campaign_id: int) -> None:
    answer = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert answer.is_success, answer.text


async def prospects(stack: SkippingStack, campaign_id: int) -> dict[str, dict[str, Any]]:
    """The campaign's prospects by address."""
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    return {p["email"]: p for p in view["prospects"]}


async def counts(stack: SkippingStack, campaign_id: int) -> dict[str, int]:
    return dict((await stack.api.get(f"/campaigns/{campaign_id}")).json()["counts"])


async def connection_state(stack: SkippingStack, mailbox_id: int) -> str:
    return str((await stack.api.get(f"/mailboxes/{mailbox_id}")).json()["connection_state"])


def sender(received: ReceivedMessage) -> str:
    """The address the message came from (its From header's address)."""
    return parseaddr(str(received.message["From"]))[1]


def to(messages: list[ReceivedMessage], address: str) -> list[ReceivedMessage]:
    return [m for m in messages if m.envelope_to == [address]]


async def skip_to(stack: SkippingStack, moment: datetime) -> None:
    """Skip the server's clock to ``moment``."""
    await stack.env.sleep(moment - await stack.env.get_current_time())


async def test_each_prospect_keeps_one_mailbox_of_the_pool_and_a_parked_one_takes_no_one_new(
    stack: SkippingStack,
    sink: tuple[FaultSinkHandler, Controller],
    cyd_sink: tuple[FaultSinkHandler, Controller],
) -> None:
    ada = await new_mailbox(stack, sink[1].port, ADA)
    bea = await new_mailbox(stack, sink[1].port, BEA)
    cyd = await new_mailbox(stack, cyd_sink[1].port, CYD)
    campaign_id = await new_campaign(stack, THREAD, mailbox_id=ada, mailbox_pool=[ada, bea, cyd])
    await add(stack, campaign_id, FIRST)
    await start(stack, campaign_id)

    def received() -> list[ReceivedMessage]:
        return [*sink[0].received, *cyd_sink[0].received]

    async def first_messages_sent() -> bool:
        await stack.env.sleep(timedelta(minutes=10))
        return len(received()) == len(FIRST)

    await eventually(first_messages_sent, seconds=60)
    # The earliest free slot spreads the first six evenly: two per mailbox.
    assert Counter(sender(m) for m in received()) == {ADA: 2, BEA: 2, CYD: 2}
    on_cyd = [a for a in FIRST if sender(to(received(), a)[0]) == CYD]

    # Cyd's password changes: her prospects' second messages meet a refused login.
    cyd_sink[0].refuse_logins = True

    async def cyd_parked() -> bool:
        await stack.env.sleep(timedelta(hours=6))
        return await connection_state(stack, cyd) == "needs_reauth"

    await eventually(cyd_parked, seconds=60)

    # Four prospects join meanwhile: none of them is given Cyd's mailbox.
    await add(stack, campaign_id, LATER)

    async def later_first_messages_sent_or_waiting() -> bool:
        await stack.env.sleep(timedelta(minutes=10))
        shown = await prospects(stack, campaign_id)
        return all(shown[a]["steps"][0]["status"] == "Sent" or shown[a]["reason"] for a in LATER)

    await eventually(later_first_messages_sent_or_waiting, seconds=60)
    shown = await prospects(stack, campaign_id)
    assert {a: shown[a]["reason"] for a in LATER} == dict.fromkeys(LATER)  # none waits for Cyd
    assert {sender(to(received(), a)[0]) for a in LATER} == {ADA, BEA}

    # A day later Cyd's prospects still wait for her, saying why; nothing more went from her.
    await stack.env.sleep(timedelta(days=1))
    assert len(cyd_sink[0].received) == 2
    shown = await prospects(stack, campaign_id)
    for address in on_cyd:
        assert shown[address]["status"] == "Active"
        assert (shown[address]["reason"] or "").startswith("MailboxDisconnected: ")
        assert [s["status"] for s in shown[address]["steps"]] == ["Sent", "Pending", "Pending"]

    # Cyd reconnects: her prospects go on, from her mailbox.
    cyd_sink[0].refuse_logins = False
    reconnected = await stack.api.post(f"/mailboxes/{cyd}/reconnect", json={})
    assert reconnected.status_code == 200, reconnected.text
    assert reconnected.json()["sequences_resumed"] == len(on_cyd)

    everyone = FIRST + LATER

    async def all_completed() -> bool:
        await stack.env.sleep(timedelta(hours=12))
        return await counts(stack, campaign_id) == {"Completed": len(everyone)}

    await eventually(all_completed, seconds=60)

    # The mailbox each enrollment was given, as its from-address.
    addresses = {ada: ADA, bea: BEA, cyd: CYD}
    with Session(stack.engine) as session:
        rows = session.exec(select(Enrollment).where(Enrollment.campaign_id == campaign_id))
        given = {row.to_address: addresses[row.mailbox_id or 0] for row in rows}
    for address in everyone:
        first, second, third = to(received(), address)  # each step exactly once
        assert {sender(first), sender(second), sender(third)} == {given[address]}
        assert {m.envelope_from for m in (first, second, third)} == {given[address]}
        assert [str(m.message["Subject"]) for m in (first, second, third)] == [
            "A role",
            "Re: A role",
            "Re: A role",
        ]
        first_id, second_id = str(first.message["Message-ID"]), str(second.message["Message-ID"])
        assert str(second.message["In-Reply-To"]) == first_id
        assert str(second.message["References"]) == first_id
        assert str(third.message["In-Reply-To"]) == second_id
        assert str(third.message["References"]) == f"{first_id} {second_id}"
    assert Counter(given[a] for a in FIRST) == {ADA: 2, BEA: 2, CYD: 2}
    assert {login for login, _ in cyd_sink[0].logins} == {CYD.encode()}
    assert {login for login, _ in sink[0].logins} == {ADA.encode(), BEA.encode()}
    assert sorted(m.envelope_to[0] for m in cyd_sink[0].received) == sorted(on_cyd * 3)


def sent_at(prospect: dict[str, Any]) -> list[datetime]:
    """When each sent step went out, Berlin time."""
    return [
        datetime.fromisoformat(s["sent_at"]).astimezone(BERLIN)
        for s in prospect["steps"]
        if s["sent_at"] is not None
    ]


def at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=BERLIN)


async def test_a_blackout_date_and_a_holiday_move_a_step_to_the_next_open_day_at_opening(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    # Dates from the server's clock: a day D with the next two days open in Germany (the
    # middle one the campaign's blackout date), and the first German holiday after them.
    today = (await stack.env.get_current_time()).astimezone(BERLIN).date()
    german = holidays.country_holidays("DE", years=range(today.year, today.year + 2))
    start_day = next(
        day
        for day in (today + timedelta(days=n) for n in range(1, 30))
        if not {day, day + timedelta(days=1), day + timedelta(days=2)} & set(german)
    )
    blackout, moved_to = start_day + timedelta(days=1), start_day + timedelta(days=2)
    holiday = min(day for day in german if day > moved_to)
    after_holiday = next(
        day for day in (holiday + timedelta(days=n) for n in range(1, 10)) if day not in german
    )
    await skip_to(stack, at(start_day, time(12)))

    mailbox_id = await new_mailbox(stack, sink[1].port, ADA, **BERLIN_DAYTIME)
    plan = await stack.api.put(f"/mailboxes/{mailbox_id}/days-off", json={"holiday_calendar": "DE"})
    assert plan.status_code == 200, plan.text
    steps: list[dict[str, Any]] = [
        {"subject": "A role", "body": "One"},
        {"subject": "A role", "body": "Two", "delay_days": 1, "thread_mode": "same_thread"},
        {
            "subject": "A role",
            "body": "Three",
            "delay_days": (holiday - moved_to).days,
            "thread_mode": "same_thread",
        },
    ]
    campaign_id = await new_campaign(stack, steps, mailbox_id=mailbox_id)
    days_off = await stack.api.put(
        f"/campaigns/{campaign_id}/days-off", json={"blackout_dates": [blackout.isoformat()]}
    )
    assert days_off.status_code == 200, days_off.text
    people = FIRST[:2]
    await add(stack, campaign_id, people)
    await start(stack, campaign_id)

    async def sent(steps: int) -> bool:
        shown = await prospects(stack, campaign_id)
        return all(len(sent_at(shown[a])) == steps for a in people)

    async def first_sent() -> bool:
        await stack.env.sleep(timedelta(minutes=10))
        return await sent(1)

    await eventually(first_sent, seconds=60)

    # Step 2 was due on the blackout date, around noon: nothing goes out that day …
    await skip_to(stack, at(blackout, time(21)))
    assert await sent(1)

    # … it goes the next morning, as the window opens.
    async def second_sent() -> bool:
        await stack.env.sleep(timedelta(hours=2))
        return await sent(2)

    await eventually(second_sent, seconds=60)

    # Step 3 was due on the holiday: nothing goes out that day (nor on the holidays after).
    await skip_to(stack, at(after_holiday - timedelta(days=1), time(21)))
    assert await sent(2)

    async def third_sent() -> bool:
        await stack.env.sleep(timedelta(hours=2))
        return await sent(3)

    await eventually(third_sent, seconds=60)

    shown = await prospects(stack, campaign_id)
    for address in people:
        first, second, third = sent_at(shown[address])
        assert first.date() == start_day and time(12) <= first.time() < time(12, 10)
        assert at(moved_to, time(8)) <= second < at(moved_to, time(8, 5))
        assert at(after_holiday, time(8)) <= third < at(after_holiday, time(8, 5))
    assert len(sink[0].received) == 3 * len(people)
    sent_on = {s.date() for a in people for s in sent_at(shown[a])}
    assert sent_on == {start_day, moved_to, after_holiday}


async def test_a_warm_up_ramp_sends_two_on_its_first_day_then_three(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    first_day = (await stack.env.get_current_time()).astimezone(BERLIN).date() + timedelta(days=1)
    await skip_to(stack, at(first_day, time(12)))
    mailbox_id = await new_mailbox(stack, sink[1].port, ADA, **BERLIN_DAYTIME, daily_limit=50)
    ramp = {"start": 2, "increment": 1, "started_on": first_day.isoformat()}
    plan = await stack.api.put(f"/mailboxes/{mailbox_id}/warmup", json=ramp)
    assert plan.status_code == 200, plan.text
    campaign_id = await new_campaign(stack, [THREAD[0]], mailbox_id=mailbox_id)
    people = [f"w{n}@warm{n}.example.com" for n in range(7)]
    await add(stack, campaign_id, people)
    await start(stack, campaign_id)

    async def all_sent() -> bool:
        await stack.env.sleep(timedelta(hours=4))
        return await counts(stack, campaign_id) == {"Completed": len(people)}

    await eventually(all_sent, seconds=60)
    shown = await prospects(stack, campaign_id)
    times = sorted(sent_at(shown[a])[0] for a in people)
    second_day, third_day = first_day + timedelta(days=1), first_day + timedelta(days=2)
    assert Counter(t.date() for t in times) == {first_day: 2, second_day: 3, third_day: 2}
    # The next day's sends begin as the window opens.
    assert at(second_day, time(8)) <= times[2] < at(second_day, time(8, 5))
    assert at(third_day, time(8)) <= times[5] < at(third_day, time(8, 5))
    assert len(sink[0].received) == len(people)
