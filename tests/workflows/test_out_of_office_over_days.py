"""Out of office until a date, from the auto-reply to the sends days later (time skipping).

The real API, inbound pipeline, store, worker and SMTP sends (to aiosmtpd); only the
clock is Temporal's time-skipping server. Oz's auto-reply says he is back in ten days:
he shows Paused with the reason, step 2 does not go before the day after his return,
then it goes and step 3 follows two days later (at step 1's time of day, as every
follow-up does). Cem's auto-reply states no date: his
sequence goes on as if nothing came.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller

from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.scheduling.when_to_send import FollowUpRule, follow_up
from tests.support.inbound_mail import out_of_office
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack

BERLIN = ZoneInfo("Europe/Berlin")
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)
SAME_TIME = FollowUpRule.SAME_TIME_OF_DAY
STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Two", "delay_days": 2},
    {"subject": "Last note", "body": "Three", "delay_days": 2},
]
OZ, CEM = "oz@orbit.example.com", "cem@cogs.example.org"


async def started(stack: SkippingStack, sink_port: int) -> tuple[int, int, str]:
    """STEPS to Oz and Cem, step 1 delivered to both: (campaign, mailbox, webhook secret)."""
    mailbox_id = await stack.new_mailbox(
        sink_port, time_zone="Europe/Berlin", send_start="08:00", send_end="24:00"
    )
    secret = await stack.inbound_secret(mailbox_id)
    now = await stack.env.get_current_time()
    if now.astimezone(BERLIN).hour < 8:  # the window opens at 08:00: start then
        await stack.env.sleep(datetime.combine(now.astimezone(BERLIN), time(8), BERLIN) - now)
    people = [
        {"first_name": name, "company": "Acme", "addresses": [{"address": address}]}
        for name, address in (("Oz", OZ), ("Cem", CEM))
    ]
    campaign_id = await stack.started_campaign(STEPS, people, mailbox_id=mailbox_id)

    async def step_one_delivered() -> bool:
        await stack.env.sleep(timedelta(seconds=30))
        return len(stack.sink.received) == 2

    await eventually(step_one_delivered)
    return campaign_id, mailbox_id, secret


async def test_an_ooo_with_a_return_date_pauses_until_the_day_after_and_one_without_does_not(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    campaign_id, mailbox_id, secret = await started(stack, sink[1].port)
    now = await stack.env.get_current_time()
    back = (now + timedelta(days=10)).astimezone(BERLIN).date()
    resumes_at = datetime.combine(back + timedelta(days=1), time(8), tzinfo=BERLIN)
    written = format_datetime(now)
    says = f"I am out of the office until {back:%A} {back.day} {back:%B} with no email."

    oz_away = out_of_office(stack.message_id_to(OZ), OZ, says, written)
    cem_away = out_of_office(stack.message_id_to(CEM), CEM, date=written)
    away = (await stack.post_inbound(mailbox_id, secret, oz_away))["action"]
    plain = (await stack.post_inbound(mailbox_id, secret, cem_away))["action"]

    resume_on = (back + timedelta(days=1)).isoformat()
    assert away == f"out of office, back on {back.isoformat()}: paused until {resume_on}"
    assert plain == "auto-reply recorded; the sequence goes on"

    async def oz_paused() -> bool:
        return (await stack.prospect(campaign_id, "Oz"))["status"] == "Paused"

    await eventually(oz_paused)
    oz = await stack.prospect(campaign_id, "Oz")
    assert oz["reason"] == f"OutOfOffice until {resume_on}"
    assert [s["status"] for s in oz["steps"]] == ["Sent", "Pending", "Pending"]

    # Until the evening before the day after his return: Cem gets all three, Oz nothing more.
    async def cem_done() -> bool:
        await stack.env.sleep(timedelta(hours=12))
        return len(stack.received(CEM)) == 3

    await eventually(cem_done, seconds=60)
    before = resumes_at - timedelta(hours=9) - await stack.env.get_current_time()
    await stack.env.sleep(before)
    assert stack.received(OZ) == ["A role at Acme"]
    assert (await stack.prospect(campaign_id, "Oz"))["status"] == "Paused"

    async def oz_step_two() -> bool:
        await stack.env.sleep(timedelta(hours=1))
        return len(stack.received(OZ)) == 2

    await eventually(oz_step_two, seconds=60)
    oz = await stack.prospect(campaign_id, "Oz")
    step_two_at = datetime.fromisoformat(oz["steps"][1]["sent_at"])
    assert resumes_at <= step_two_at < resumes_at + timedelta(hours=1)  # the window's opening
    assert (oz["status"], oz["reason"]) == ("Active", None)

    async def oz_step_three() -> bool:
        await stack.env.sleep(timedelta(hours=6))
        return len(stack.received(OZ)) == 3

    await eventually(oz_step_three, seconds=60)
    oz = await stack.prospect(campaign_id, "Oz")
    step_one_at, step_three_at = (datetime.fromisoformat(oz["steps"][i]["sent_at"]) for i in (0, 2))
    # Two days after step 2, at step 1's time of day ±20 minutes (the follow-up rule), or
    # at the window's opening when that lands in the night.
    earliest, latest = (
        follow_up(step_two_at, step_one_at, 2 * DAY, SAME_TIME, "Europe/Berlin", jitter)
        for jitter in (0.0, 1.0)
    )
    opening = datetime.combine(latest.astimezone(BERLIN).date(), time(8), tzinfo=BERLIN)
    assert earliest - SECOND <= step_three_at <= max(latest, opening) + SECOND
    assert step_three_at - step_two_at > DAY  # two days on, counted as the rule counts
    assert stack.received(OZ) == ["A role at Acme", "Following up", "Last note"]
    assert (await stack.prospect(campaign_id, "Cem"))["status"] == "Completed"
