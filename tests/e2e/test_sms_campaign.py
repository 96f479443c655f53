"""A texting campaign end to end: API → Temporal → worker → Twilio's SDK → the local gateway
→ signed status callbacks → the public app → the database and the workflows.

Fifty prospects, two texts each. The gateway reports some numbers' callbacks in reverse
order (``delivered`` before ``sent``), some twice, and two numbers' texts as undelivered;
a forged callback tries to undo a delivery. What a user sees: each prospect got each
text once, every status is the furthest the provider reported, the failures carry the
provider's reason, and the metrics and export count the texts per step.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from outbound.devstack.sms_gateway import Behaviour
from outbound.sms.webhook_auth import status_callback_url
from outbound.store.tables import Message
from tests.e2e.conftest import SMS_ACCOUNT_SID, Stack
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

PROSPECTS = 50
OUR_NUMBER = "+14155550100"
# Zones whose 09:00–19:00 cover every hour of the day between them: one is always well
# inside the legal 08:00–21:00, so the texts go now whenever the test runs.
ZONES = [
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
]
STEPS = [
    {
        "kind": "sms",
        "body": "Hi {{ first_name }}, a night-shift role at Acme? Reply STOP to opt out.",
    },
    {"kind": "sms", "body": "{{ first_name }}, still interested? Reply STOP to opt out."},
]


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


def number(index: int) -> str:
    return f"+1415555{200 + index:04d}"


def sms_rows(stack: Stack) -> list[Message]:
    with Session(stack.engine) as session:
        return list(session.exec(select(Message).where(Message.channel == "sms")))


async def test_fifty_prospects_get_each_text_once_whatever_order_the_reports_come_in(
    stack: Stack,
) -> None:
    rules = stack.sms_gateway.rules
    for index in range(0, 10):
        rules.behaviours[number(index)] = Behaviour.REVERSE
    for index in range(10, 20):
        rules.behaviours[number(index)] = Behaviour.DUPLICATE
    undelivered = {number(20), number(21)}
    for phone in undelivered:
        rules.behaviours[phone] = Behaviour.UNDELIVERED
    sender = await stack.api.post(
        "/sms-senders",
        json={
            "name": "Recruiting line",
            "account_sid": SMS_ACCOUNT_SID,
            "auth_token": stack.sms_gateway.accounts[SMS_ACCOUNT_SID],
            "from_number": OUR_NUMBER,
            "time_zone": "UTC",
            "daily_limit": 1000,
            "per_second": 50,
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
        },
    )
    assert sender.status_code == 201, sender.text
    campaign = await stack.api.post(
        "/campaigns",
        json={
            "name": "Night shift",
            "sms_sender_id": sender.json()["id"],
            "grace_seconds": 1,
            "steps": STEPS,
        },
    )
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["id"]
    zone = daytime_zone()
    people = [
        {
            "first_name": f"P{index}",
            "time_zone": zone,
            "addresses": [{"address": f"p{index}@example.org"}],
            "phones": [{"number": number(index), "type": "mobile"}],
        }
        for index in range(PROSPECTS)
    ]
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    assert added.status_code == 201, added.text
    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert started.status_code == 202, started.text

    async def all_completed() -> bool:
        view = (await stack.api.get(f"/campaigns/{campaign_id}?limit=100")).json()
        return view["counts"] == {"Completed": PROSPECTS}

    await eventually(all_completed, seconds=120)
    await stack.sms_gateway.settle()

    # Each prospect got each text once, and nobody else got one.
    texts = Counter((m.to_number, m.body.split(",")[0]) for m in stack.sms_gateway.messages)
    assert len(texts) == 2 * PROSPECTS and set(texts.values()) == {1}
    texted = {m.to_number for m in stack.sms_gateway.messages}
    assert texted == {number(i) for i in range(PROSPECTS)}

    # The furthest status each number's reports reached, whatever their order or number.
    rows = sms_rows(stack)
    assert len(rows) == 2 * PROSPECTS
    for row in rows:
        if row.to_address in undelivered:
            assert (row.status, row.failure_reason) == (
                "Failed",
                "30003: Unreachable destination handset",
            ), row
        else:
            assert (row.status, row.failure_reason) == ("Delivered", None), row
        assert row.provider_sid and row.provider_sid.startswith("SM")
    assert all(hook.status_code == 204 for hook in stack.sms_gateway.webhooks)

    # A forged "undelivered" for a delivered text is refused and changes nothing.
    delivered = next(r for r in rows if r.status == "Delivered")
    url = status_callback_url(stack.settings.public_base_url, delivered.message_id)
    forged = {
        "MessageSid": delivered.provider_sid or "",
        "MessageStatus": "undelivered",
        "AccountSid": SMS_ACCOUNT_SID,
        "ErrorCode": "30003",
    }
    refused = await stack.public.post(
        url.removeprefix(stack.settings.public_base_url),
        data=forged,
        headers={"X-Twilio-Signature": RequestValidator("a-guess").compute_signature(url, forged)},
    )
    assert refused.status_code == 403
    again = {r.message_id: r.status for r in sms_rows(stack)}
    assert again[delivered.message_id] == "Delivered"

    # What the user reads: steps, per-channel counts, metrics and the export.
    view = (await stack.api.get(f"/campaigns/{campaign_id}?limit=100")).json()
    for prospect in view["prospects"]:
        failed = prospect["steps"][0]["status"] == "Failed"
        assert [s["status"] for s in prospect["steps"]] == (
            ["Failed", "Failed"] if failed else ["Sent", "Sent"]
        )
    assert view["messages"]["sms"]["logged"] == {
        "Delivered": 2 * (PROSPECTS - 2),
        "Failed": 4,
    }
    metrics = (await stack.api.get(f"/campaigns/{campaign_id}/metrics")).json()
    assert [
        (s["position"], s["sent"], s["delivered"], s["failed"]) for s in metrics["sms_steps"]
    ] == [(1, PROSPECTS, PROSPECTS - 2, 2), (2, PROSPECTS, PROSPECTS - 2, 2)]  # all were sent
    export = await stack.api.get(f"/campaigns/{campaign_id}/export.csv")
    table = list(csv.DictReader(io.StringIO(export.text)))
    assert Counter(row["sms_step_1"] for row in table) == {
        "Delivered": PROSPECTS - 2,
        "Failed": 2,
    }
