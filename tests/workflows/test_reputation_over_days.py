"""The reputation guard through the real activities, under time skipping.

The real API, store, worker and SMTP sends (to aiosmtpd, answering 550 "user unknown" for
seven of twenty addresses); only the clock is Temporal's time-skipping server. A send a
minute, one step each: the sixth hard bounce (6% of at least 100 sends, over the default
5%) pauses the mailbox before the next send goes out, and a day later nothing more has
gone, and no other campaign starts on the mailbox. A reconnect does not lift the pause;
a resume does, and the rest go, each once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from aiosmtpd.controller import Controller

from outbound.devstack.fault_sink import Answer, FaultSinkHandler
from tests.support.factories import CONSENT
from tests.support.polling import eventually
from tests.support.skipping_stack import SkippingStack

# Every other one of the first fourteen bounces: the guard must stop at the sixth.
PEOPLE = [f"{'bad' if n % 2 and n < 14 else 'good'}{n}@corp{n}.example.com" for n in range(20)]
BAD = [p for p in PEOPLE if p.startswith("bad")]
GOOD = [p for p in PEOPLE if p.startswith("good")]


async def started(stack: SkippingStack, sink_port: int) -> tuple[int, int]:
    """One step to each of PEOPLE, a send a minute: (campaign, mailbox)."""
    mailbox_id = await stack.new_mailbox(sink_port, min_gap_seconds=60)
    steps = [{"subject": "A role", "body": "Hi {{ first_name }}"}]
    people = [{"first_name": "P", "addresses": [{"address": p}]} for p in PEOPLE]
    campaign_id = await stack.started_campaign(steps, people, mailbox_id=mailbox_id)
    return campaign_id, mailbox_id


async def mailbox(stack: SkippingStack, mailbox_id: int) -> dict[str, Any]:
    answer = await stack.api.get(f"/mailboxes/{mailbox_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_six_hard_bounces_pause_the_mailbox_before_the_next_send_until_a_resume(
    stack: SkippingStack, sink: tuple[FaultSinkHandler, Controller]
) -> None:
    for address in BAD:
        stack.sink.at_rcpt(address, Answer(550, "5.1.1 <user> unknown"))
    campaign_id, mailbox_id = await started(stack, sink[1].port)

    async def paused() -> bool:
        await stack.env.sleep(timedelta(minutes=2))
        return (await mailbox(stack, mailbox_id))["connection_state"] == "paused_reputation"

    await eventually(paused, seconds=60)
    tried = list(stack.sink.attempts)  # in the order of each address's first attempt
    assert len([a for a in tried if a in BAD]) == 6
    assert tried[-1] in BAD  # the sixth bounce was the last send

    # A day later nothing more has been sent; every other sequence waits, saying why.
    await stack.env.sleep(timedelta(days=1))
    assert list(stack.sink.attempts) == tried
    shown = await mailbox(stack, mailbox_id)
    sends = len(tried)
    assert shown["paused_reason"] == (
        f"hard bounces: 6 of the last {sends} sends, counted over at least 100 (6%, over 5%)"
    )
    assert {k: shown["reputation"][k] for k in ("sends", "hard_bounces", "complaints")} == {
        "sends": sends,
        "hard_bounces": 6,
        "complaints": 0,
    }
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    waiting = [p for p in view["prospects"] if p["email"] not in tried]
    assert len(waiting) == len(PEOPLE) - sends
    assert all("paused for its sending reputation" in (p["reason"] or "") for p in waiting)

    # No campaign starts on it meanwhile.
    other = await stack.api.post(
        "/campaigns",
        json={"name": "Later", "mailbox_id": mailbox_id, "steps": [{"subject": "s", "body": "b"}]},
    )
    later = other.json()["id"]
    one = [{"first_name": "Z", "addresses": [{"address": "z@zeta.example.com"}]}]
    assert (await stack.api.post(f"/campaigns/{later}/prospects", json=one)).is_success
    refused = await stack.api.post(f"/campaigns/{later}/start", json=CONSENT)
    assert refused.status_code == 409
    assert refused.json()["detail"][0]["field"] == "mailbox_id"
    assert "paused for its sending reputation" in refused.json()["detail"][0]["reason"]

    # New credentials do not lift the pause; a resume does.
    reconnected = await stack.api.post(f"/mailboxes/{mailbox_id}/reconnect", json={})
    assert reconnected.status_code == 200, reconnected.text
    assert reconnected.json()["sequences_resumed"] == 0
    assert reconnected.json()["mailbox"]["connection_state"] == "paused_reputation"
    resumed = await stack.api.post(f"/mailboxes/{mailbox_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["sequences_resumed"] == len(waiting)
    assert resumed.json()["mailbox"]["connection_state"] == "connected"
    assert resumed.json()["mailbox"]["reputation"]["sends"] == 0

    async def all_sent() -> bool:
        await stack.env.sleep(timedelta(minutes=5))
        view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
        return bool(view["counts"] == {"Completed": len(GOOD), "Bounced": len(BAD)})

    await eventually(all_sent, seconds=60)
    assert Counter(r.envelope_to[0] for r in stack.sink.received) == dict.fromkeys(GOOD, 1)
    assert all(stack.sink.attempts[a] == 1 for a in BAD)  # the seventh too, after the resume
    shown = await mailbox(stack, mailbox_id)
    assert (shown["connection_state"], shown["reputation"]["hard_bounces"]) == ("connected", 1)
    again = await stack.api.post(f"/mailboxes/{mailbox_id}/resume")
    assert again.status_code == 409
    assert again.json()["detail"][0]["field"] == "mailbox_id"
