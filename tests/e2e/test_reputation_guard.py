"""The reputation guard through the real stack: API → dev server → worker → aiosmtplib →
scripted aiosmtpd → database, and a bounce report through the inbound webhook.

The guard's limits are small here (20% over at least 10 sends). A first message is
accepted, then reported bounced; of a campaign's eight prospects four are refused at
RCPT (in whatever order the sends go). The second refusal makes three hard bounces,
which pause the mailbox; the sequences not yet sent wait, and a resume delivers each
of them once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, select

from outbound.devstack.fault_sink import Answer
from outbound.store.tables import Mailbox, Message
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view, create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.inbound_mail import bounce_of
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

ONE_STEP = [{"subject": "A role", "body": "Hi {{ first_name }}"}]
LATE = "late@old.example.com"  # accepted, then a bounce report
PEOPLE = [f"p{n}@corp{n}.example.com" for n in range(8)]
REFUSED = PEOPLE[::2]  # 550 at RCPT


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {"reputation_min_sends": 10, "reputation_max_hard_bounce_rate": 0.2}


def attempted(stack: Stack) -> list[str]:
    return [a for a in stack.sink.attempts if a in PEOPLE]


async def started(stack: Stack, mailbox_id: int, addresses: list[str]) -> int:
    campaign_id = await create_campaign(stack, mailbox_id, ONE_STEP)
    people = [{"first_name": "P", "addresses": [{"address": a}]} for a in addresses]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    return campaign_id


async def late_bounce(stack: Stack, mailbox_id: int) -> None:
    """One message to LATE, accepted, then reported bounced: the mailbox's first hard bounce."""
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    await started(stack, mailbox_id, [LATE])

    async def sent() -> bool:
        return any(r.envelope_to == [LATE] for r in stack.sink.received)

    await eventually(sent)
    (message,) = [r.message for r in stack.sink.received if r.envelope_to == [LATE]]
    reported = await stack.public.post(
        f"/inbound/{mailbox_id}",
        content=bounce_of(str(message["Message-ID"]), LATE),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert reported.status_code == 202, reported.text
    assert reported.json()["action"].startswith("hard bounce")


async def test_a_third_hard_bounce_pauses_the_mailbox_and_a_resume_delivers_the_rest_once(
    stack: Stack,
) -> None:
    for address in REFUSED:
        stack.sink.at_rcpt(address, Answer(550, "5.1.1 <user> unknown"))
    mailbox_id = await create_mailbox(stack, min_gap_seconds=1)  # one send at a time
    await late_bounce(stack, mailbox_id)
    shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert (shown["connection_state"], shown["reputation"]["hard_bounces"]) == ("connected", 1)
    campaign_id = await started(stack, mailbox_id, PEOPLE)

    async def paused() -> bool:
        shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
        return bool(shown["connection_state"] == "paused_reputation")

    await eventually(paused)
    shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    assert shown["paused_reason"].startswith("hard bounces: 3 of the last ")
    assert shown["reputation"]["hard_bounces"] == 3
    listed = (await stack.api.get("/mailboxes")).json()
    assert [(m["connection_state"], m["reputation"]) for m in listed] == [
        ("paused_reputation", None)  # the list leaves the figures to the mailbox's page
    ]

    # The sequences not yet sent wait, saying why; nothing more goes out.
    tried = attempted(stack)
    assert len([a for a in tried if a in REFUSED]) == 2  # the second refusal paused it
    waiting = [p for p in PEOPLE if p not in tried]

    async def all_wait() -> bool:
        view = await campaign_view(stack, campaign_id)
        reasons = {p["email"]: p["reason"] or "" for p in view["prospects"]}
        return all("paused for its sending reputation" in reasons[p] for p in waiting)

    await eventually(all_wait)
    assert attempted(stack) == tried
    with Session(stack.engine) as session:
        row = session.exec(select(Mailbox).where(Mailbox.id == mailbox_id)).one()
        assert row.paused_reason == shown["paused_reason"]

    resumed = await stack.api.post(f"/mailboxes/{mailbox_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["sequences_resumed"] == len(waiting)

    async def completed() -> bool:
        return (await campaign_view(stack, campaign_id))["campaign"]["status"] == "Completed"

    await eventually(completed)
    accepted = Counter(r.envelope_to[0] for r in stack.sink.received)
    assert accepted == dict.fromkeys([LATE, *[p for p in PEOPLE if p not in REFUSED]], 1)
    assert all(stack.sink.attempts[a] == 1 for a in REFUSED)
    with Session(stack.engine) as session:
        statuses = Counter(m.status for m in session.exec(select(Message)))
    assert statuses == {"Sent": 4, "Bounced": 5}
    shown = (await stack.api.get(f"/mailboxes/{mailbox_id}")).json()
    # Counted afresh since the resume: the two refusals after it (20%, not over).
    assert (shown["connection_state"], shown["reputation"]["hard_bounces"]) == ("connected", 2)
