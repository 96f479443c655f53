"""A 3-step campaign to 5 prospects through the real stack, checked at the SMTP server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from outbound.domain.sequence import ENROLLMENT_WORKFLOW
from tests.e2e.conftest import Stack
from tests.support.factories import CONSENT

pytestmark = pytest.mark.e2e

PEOPLE = [
    ("Ann", "Acme", "ann@acme.example.com"),
    ("Bob", "Bolt", "bob@bolt.example.com"),
    ("Cem", "Cogs", "cem@cogs.example.org"),
    ("Dia", "Dyno", "dia@dyno.example.org"),
    ("Eve", "Echo", "eve@echo.example.net"),
]


async def create_mailbox(stack: Stack, **extra: Any) -> int:
    answer = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": stack.sink_port,
            "tls_mode": "none",
            "username": "ada",
            "password": "s3cret-pass",
            "from_name": "Ada Recruiter",
            "from_address": "ada@hiring.example.com",
            "time_zone": "Europe/Berlin",
            # open around the clock, no gap: these tests are about delivery, not limits
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1_000_000,
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    assert "s3cret" not in answer.text
    return int(answer.json()["id"])


async def create_campaign(stack: Stack, mailbox_id: int, steps: list[dict[str, Any]]) -> int:
    answer = await stack.api.post(
        "/campaigns",
        json={
            "name": "Backend hiring",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "steps": steps,
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


THREE_STEPS = [
    {"subject": "Role at {{ company }}?", "body": "Hi {{ first_name }}, a role for you.\n"},
    {
        "subject": "ignored for same thread",
        "body": "Hi {{ first_name }}, following up.\n",
        "thread_mode": "same_thread",
    },
    {"subject": "Last note, {{ first_name }}", "body": "Bye {{ first_name }}.\n"},
]


async def wait_for(predicate: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.1)


async def campaign_view(stack: Stack, campaign_id: int) -> dict[str, Any]:
    answer = await stack.api.get(f"/campaigns/{campaign_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.parametrize(
    "stack", [True, False], indirect=True, ids=["isolated", "modules_passed_through"]
)
async def test_three_step_campaign_reaches_five_prospects_with_threading(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(stack, mailbox_id, THREE_STEPS)
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[
            {"first_name": name, "company": company, "addresses": [{"address": address}]}
            for name, company, address in PEOPLE
        ],
    )
    assert added.status_code == 201, added.text

    before = await campaign_view(stack, campaign_id)
    assert before["campaign"]["status"] == "Ready"
    assert {p["status"] for p in before["prospects"]} == {"NotStarted"}
    assert {s["status"] for p in before["prospects"] for s in p["steps"]} == {"Pending"}

    started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert started.status_code == 202, started.text
    assert started.json()["to_start"] == 5

    await wait_for(lambda: len(stack.sink.received) == 15)
    view: dict[str, Any] = {}

    async def all_completed() -> bool:
        nonlocal view
        view = await campaign_view(stack, campaign_id)
        return view["campaign"]["status"] == "Completed"

    deadline = time.monotonic() + 30
    while not await all_completed():
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.2)

    # What the SMTP server received: each prospect, each step, exactly once, personalised.
    by_recipient: dict[str, list[Any]] = {}
    for received in stack.sink.received:
        assert len(received.envelope_to) == 1
        by_recipient.setdefault(received.envelope_to[0], []).append(received.message)
    assert sorted(by_recipient) == sorted(address for _, _, address in PEOPLE)
    for name, company, address in PEOPLE:
        first, second, third = sorted(by_recipient[address], key=lambda m: m["Message-ID"])
        assert first["Subject"] == f"Role at {company}?"
        assert first.get_content() == f"Hi {name}, a role for you.\n"
        assert str(first["From"]) == "Ada Recruiter <ada@hiring.example.com>"
        # A long header is folded before its value; unfolding leaves a leading space.
        unsubscribe = str(first["List-Unsubscribe"]).strip()
        assert first["Date"] and unsubscribe.startswith("<http://outbound.test/unsubscribe/")
        assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert first["In-Reply-To"] is None
        # Step 2 replies in step 1's thread.
        assert second["Subject"] == f"Re: Role at {company}?"
        assert second["In-Reply-To"] == first["Message-ID"]
        assert second["References"] == first["Message-ID"]
        assert second.get_content() == f"Hi {name}, following up.\n"
        # Step 3 opens a new thread.
        assert third["Subject"] == f"Last note, {name}"
        assert third["In-Reply-To"] is None
        assert len({first["Message-ID"], second["Message-ID"], third["Message-ID"]}) == 3

    # What the API and the database say.
    assert view["counts"] == {"Completed": 5}
    for prospect in view["prospects"]:
        assert prospect["status"] == "Completed"
        assert (
            prospect["workflow_id"] == f"campaign-{campaign_id}-prospect-{prospect['prospect_id']}"
        )
        assert [s["status"] for s in prospect["steps"]] == ["Sent", "Sent", "Sent"]
        assert all(s["sent_at"] for s in prospect["steps"])
        detail = (
            await stack.api.get(f"/campaigns/{campaign_id}/prospects/{prospect['prospect_id']}")
        ).json()
        assert [m["status"] for m in detail["messages"]] == ["Sent", "Sent", "Sent"]
        assert [m["attempts"] for m in detail["messages"]] == [1, 1, 1]
        sent_ids = {m["message_id"] for m in detail["messages"]}
        assert sent_ids == {str(m["Message-ID"]) for m in by_recipient[prospect["email"]]}

    # The envelope sender is the mailbox's plain address (no plus-addressing declared).
    assert {r.envelope_from for r in stack.sink.received} == {"ada@hiring.example.com"}

    # Operators read histories in the Temporal UI: the SMTP password is never in one.
    for prospect in view["prospects"]:
        handle = stack.api_temporal.get_workflow_handle(prospect["workflow_id"])
        history = await handle.fetch_history()
        assert "s3cret-pass" not in history.to_json()
    # Each sequence carries its workspace, so the Temporal UI can filter by it.
    me = (await stack.api.get("/me")).json()
    in_workspace = stack.api_temporal.list_workflows(
        f"WorkspaceId = '{me['workspace_id']}' AND CampaignId = '{campaign_id}'"
        f" AND WorkflowType = '{ENROLLMENT_WORKFLOW}'"
    )
    assert {w.id async for w in in_workspace} == {p["workflow_id"] for p in view["prospects"]}


async def test_stop_and_reply_through_the_api_end_those_sequences(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    steps = [
        {"subject": "Hello {{ first_name }}", "body": "One"},
        {"subject": "Again", "body": "Two", "delay_days": 2},
    ]
    campaign_id = await create_campaign(stack, mailbox_id, steps)
    await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[
            {"first_name": name, "addresses": [{"address": address}]}
            for name, _, address in PEOPLE[:3]
        ],
    )
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 202
    await wait_for(lambda: len(stack.sink.received) == 3)
    ids = [p["prospect_id"] for p in (await campaign_view(stack, campaign_id))["prospects"]]

    stopped = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ids[0]}/stop")
    replied = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ids[1]}/reply")
    paused = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ids[2]}/pause")

    assert stopped.json()["status"] == "Stopped", stopped.text
    assert replied.json()["status"] == "Replied", replied.text
    assert paused.json()["status"] == "Paused", paused.text
    assert [s["status"] for s in stopped.json()["steps"]] == ["Sent", "Stopped"]

    async def mirrored() -> dict[int, str]:
        view = await campaign_view(stack, campaign_id)
        return {p["prospect_id"]: p["status"] for p in view["prospects"]}

    deadline = time.monotonic() + 30
    while await mirrored() != {ids[0]: "Stopped", ids[1]: "Replied", ids[2]: "Paused"}:
        assert time.monotonic() < deadline, await mirrored()
        await asyncio.sleep(0.2)
    again = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{ids[0]}/pause")
    assert again.status_code == 409
    assert "already ended (Stopped)" in again.json()["detail"][0]["reason"]
    assert len(stack.sink.received) == 3


async def test_a_scheduled_message_can_be_canceled_from_the_log_but_not_a_sent_one(
    stack: Stack,
) -> None:
    mailbox_id = await create_mailbox(stack)
    steps = [
        {"subject": "Hello {{ first_name }}", "body": "One"},
        {"subject": "Again", "body": "Two", "delay_days": 2},
    ]
    campaign_id = await create_campaign(stack, mailbox_id, steps)
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": "Ann", "addresses": [{"address": "ann@example.com"}]}],
    )
    [prospect_id] = added.json()["prospect_ids"]
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 202
    await wait_for(lambda: len(stack.sink.received) == 1)
    url = f"/campaigns/{campaign_id}/prospects/{prospect_id}"

    async def log() -> dict[int, str]:
        detail = (await stack.api.get(url)).json()
        return {m["position"]: m["status"] for m in detail["messages"]}

    deadline = time.monotonic() + 30
    while await log() != {1: "Sent", 2: "Waiting"}:
        assert time.monotonic() < deadline, await log()
        await asyncio.sleep(0.1)

    sent_one = await stack.api.post(f"{url}/messages/1/cancel")
    canceled = await stack.api.post(f"{url}/messages/2/cancel")

    assert sent_one.status_code == 409
    assert "no scheduled message (Sent)" in sent_one.json()["detail"][0]["reason"]
    assert canceled.status_code == 200, canceled.text
    assert [s["status"] for s in canceled.json()["steps"]] == ["Sent", "Canceled"]
    deadline = time.monotonic() + 30
    while (await stack.api.get(url)).json()["status"] != "Completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert await log() == {1: "Sent", 2: "Canceled"}
    assert len(stack.sink.received) == 1
