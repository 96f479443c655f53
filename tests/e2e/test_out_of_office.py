"""Out of office until a date: an auto-reply through the inbound webhook pauses the prospect
(API → pipeline → workflow signal → database), gives the slot back, and Resume sends at once.

The dev server's clock cannot skip the ten days; the wait itself, and the sends after it,
are in tests/workflows/test_out_of_office*.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from outbound.store.tables import SlotReservation
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.e2e.test_inbound_webhook import prospect, sent_to
from tests.support.factories import CONSENT
from tests.support.inbound_mail import out_of_office
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

# Step 2 is due at once and waits for the mailbox's gap after step 1; its send is handed
# over 10 s before its slot (``SLOT_DUE_SOON``), so the auto-reply comes before that.
GAP_SECONDS = 20
STEPS = [
    {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}"},
    {"subject": "Following up", "body": "Two"},
]
ZOE = "zoe@zeta.example.com"


async def test_an_ooo_with_a_return_date_pauses_the_prospect_and_resume_sends_at_once(
    stack: Stack,
) -> None:
    mailbox_id = await create_mailbox(stack, min_gap_seconds=GAP_SECONDS)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    campaign_id = await create_campaign(stack, mailbox_id, STEPS)
    people = [{"first_name": "Zoe", "company": "Zeta", "addresses": [{"address": ZOE}]}]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_sent() -> bool:
        return len(stack.sink.received) == 1

    await eventually(step_one_sent)
    now = datetime.now(UTC)
    back = (now + timedelta(days=10)).astimezone(ZoneInfo("Europe/Berlin")).date()
    said = f"Ich bin zurück am {back:%d.%m.} und antworte dann."
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}",
        content=out_of_office(sent_to(stack, ZOE), ZOE, said, format_datetime(now)),
        headers={"Authorization": f"Bearer {secret}"},
    )

    resume_on = (back + timedelta(days=1)).isoformat()
    assert answer.status_code == 202, answer.text
    assert answer.json()["kind"] == "auto_reply"
    assert answer.json()["action"] == (
        f"out of office, back on {back.isoformat()}: paused until {resume_on}"
    )

    async def paused() -> bool:
        return (await prospect(stack, campaign_id, "Zoe"))["status"] == "Paused"

    await eventually(paused)
    zoe = await prospect(stack, campaign_id, "Zoe")
    assert zoe["reason"] == f"OutOfOffice until {resume_on}"
    assert [e["action"] for e in zoe["inbound"]] == [answer.json()["action"]]
    assert [(s["status"], s["scheduled_at"]) for s in zoe["steps"]] == [
        ("Sent", zoe["steps"][0]["scheduled_at"]),
        ("Pending", None),
    ]
    step_two = [m for m in zoe["messages"] if m["position"] == 2]
    assert [(m["status"], m["scheduled_at"]) for m in step_two] in ([], [("Waiting", None)])
    with Session(stack.engine) as session:
        slots = session.exec(
            select(SlotReservation).where(col(SlotReservation.key).endswith(":2:1"))
        ).all()
    assert [s.released_at is not None for s in slots] == [True]  # the slot went back

    resumed = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects/{zoe['prospect_id']}/resume"
    )
    assert resumed.status_code == 200, resumed.text

    async def step_two_sent() -> bool:
        return len(stack.sink.received) == 2

    await eventually(step_two_sent, seconds=GAP_SECONDS + 10)
    subjects = [str(r.message["Subject"]) for r in stack.sink.received]
    assert subjects == ["A role at Zeta", "Following up"]

    async def completed() -> bool:
        zoe = await prospect(stack, campaign_id, "Zoe")
        return bool(zoe["status"] == "Completed" and zoe["reason"] is None)

    await eventually(completed)
