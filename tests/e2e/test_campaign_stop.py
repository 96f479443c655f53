"""Stopping a whole campaign through the API reaches every prospect and sends nothing more."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view, create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

PROSPECTS = 30


async def test_stop_reaches_every_prospect_and_nothing_more_is_sent(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(
        stack,
        mailbox_id,
        [
            {"subject": "Hi {{ first_name }}", "body": "One"},
            {"subject": "Again", "body": "Two", "delay_days": 2},
        ],
    )
    people = [
        {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@stop.example.com"}]}
        for i in range(PROSPECTS)
    ]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def step_one_sent() -> bool:
        return len(stack.sink.received) == PROSPECTS

    await eventually(step_one_sent)
    stopped = await stack.api.post(f"/campaigns/{campaign_id}/stop")

    assert stopped.status_code == 202, stopped.text
    assert stopped.json()["prospects_stopped"] == PROSPECTS

    async def all_stopped() -> bool:
        view = await campaign_view(stack, campaign_id)
        return bool(view["counts"] == {"Stopped": PROSPECTS})

    await eventually(all_stopped)
    view = (await stack.api.get(f"/campaigns/{campaign_id}?limit=1000")).json()
    assert view["campaign"]["status"] == "Stopped"
    assert {tuple(s["status"] for s in p["steps"]) for p in view["prospects"]} == {
        ("Sent", "Stopped")
    }
    assert Counter(r.envelope_to[0] for r in stack.sink.received).most_common(1)[0][1] == 1
    assert len(stack.sink.received) == PROSPECTS

    again = await stack.api.post(f"/campaigns/{campaign_id}/stop")
    assert (again.status_code, again.json()["prospects_stopped"]) == (202, 0)
    restart = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert restart.status_code == 409


async def test_stopping_an_unknown_campaign_is_404(stack: Stack) -> None:
    answer = await stack.api.post("/campaigns/999/stop")
    assert answer.status_code == 404
    assert answer.json()["detail"][0]["field"] == "campaign_id"


async def test_pause_holds_every_prospect_and_resume_sends_each_once(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    created = await stack.api.post(
        "/campaigns",
        json={
            "name": "Paused",
            "mailbox_id": mailbox_id,
            "grace_seconds": 3,
            "steps": [{"subject": "Hi {{ first_name }}", "body": "One"}],
        },
    )
    campaign_id = created.json()["id"]
    people = [
        {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@pause.example.com"}]}
        for i in range(PROSPECTS)
    ]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    paused = await stack.api.post(f"/campaigns/{campaign_id}/pause")
    assert (paused.status_code, paused.json()["status"]) == (202, "Paused")

    # Sequences already started are paused; the start fan-out starts nobody else.
    await stack.api_temporal.get_workflow_handle(paused.json()["control_workflow_id"]).result()
    await stack.api_temporal.get_workflow_handle(f"campaign-{campaign_id}-launch").result()
    await asyncio.sleep(4)  # past the grace delay: a paused campaign sends nothing
    view = await campaign_view(stack, campaign_id)
    assert set(view["counts"]) <= {"Paused", "NotStarted"}, view["counts"]
    assert view["counts"].get("Paused", 0) == view["workflows_started"]
    assert stack.sink.received == []
    assert (await stack.api.post(f"/campaigns/{campaign_id}/pause")).status_code == 409
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 409

    resumed = await stack.api.post(f"/campaigns/{campaign_id}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (202, "InProgress")
    assert (await stack.api.post(f"/campaigns/{campaign_id}/resume")).status_code == 409

    async def completed() -> bool:
        view = await campaign_view(stack, campaign_id)
        return bool(view["campaign"]["status"] == "Completed")

    await eventually(completed)
    per_recipient = Counter(r.envelope_to[0] for r in stack.sink.received)
    assert len(per_recipient) == PROSPECTS and set(per_recipient.values()) == {1}
