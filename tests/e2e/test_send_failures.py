"""Send failures through the real stack, against a scripted SMTP server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from outbound.devstack.fault_sink import Answer, DropAfterAccepting
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.imap_server import ImapTestServer
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


async def test_a_bounce_and_an_unknown_outcome_end_with_their_reasons_and_nothing_is_resent(
    stack: Stack,
) -> None:
    stack.sink.at_rcpt("bob@example.org", Answer(550, "5.1.1 <bob@example.org>: User unknown"))
    stack.sink.at_data("cem@example.org", DropAfterAccepting())
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(
        stack,
        mailbox_id,
        [
            {"subject": "Hi {{ first_name }}", "body": "One"},
            {"subject": "Re", "body": "Two", "delay_minutes": 0},
        ],
    )
    people = [("Ann", "ann@example.org"), ("Bob", "bob@example.org"), ("Cem", "cem@example.org")]
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": n, "addresses": [{"address": a}]} for n, a in people],
    )
    ann, bob, cem = added.json()["prospect_ids"]
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 202

    view: dict[str, Any] = {}

    async def settled() -> bool:
        nonlocal view
        view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
        counts = view["counts"] == {"Completed": 1, "Bounced": 1, "Failed": 1}
        return bool(counts and view["campaign"].get("needs_attention"))

    await eventually(settled)
    by_id = {p["prospect_id"]: p for p in view["prospects"]}
    assert (by_id[ann]["status"], by_id[bob]["status"], by_id[cem]["status"]) == (
        "Completed",
        "Bounced",
        "Failed",
    )
    # Cem waits for the user (Retry, skip or stop): the campaign is not Completed yet,
    # and both its view and the campaign list say one prospect needs attention.
    assert (view["campaign"]["status"], view["campaign"]["needs_attention"]) == ("InProgress", 1)
    [listed] = (await stack.api.get("/campaigns")).json()
    assert listed["needs_attention"] == 1
    assert "5.1.1" in by_id[bob]["reason"]
    assert by_id[cem]["reason"] == "Unconfirmed"
    received = [r.envelope_to[0] for r in stack.sink.received]
    assert sorted(received) == [
        "ann@example.org",
        "ann@example.org",
        "cem@example.org",
    ]  # Cem's arrived once
    assert stack.sink.attempts["bob@example.org"] == 1  # a bounce is not retried

    bob_log = (await stack.api.get(f"/campaigns/{campaign_id}/prospects/{bob}")).json()["messages"]
    cem_log = (await stack.api.get(f"/campaigns/{campaign_id}/prospects/{cem}")).json()["messages"]
    assert [(m["status"], m["attempts"]) for m in bob_log] == [("Bounced", 1)]
    assert "hard_bounce: 550 5.1.1" in bob_log[0]["failure_reason"]
    assert [m["status"] for m in cem_log] == ["Failed"]
    assert cem_log[0]["failure_reason"].startswith("unknown:")

    # The user looks in the Sent folder, finds it, and stops Cem: every sequence has ended.
    stopped = await stack.api.post(f"/campaigns/{campaign_id}/prospects/{cem}/stop")
    assert stopped.status_code == 200, stopped.text

    async def completed() -> bool:
        view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
        return bool(view["campaign"]["status"] == "Completed")

    await eventually(completed)
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    assert view["campaign"]["needs_attention"] == 0


async def start_with_ann(stack: Stack, **addressing: object) -> tuple[int, int]:
    mailbox_id = await create_mailbox(stack)
    created = await stack.api.post(
        "/campaigns",
        json={
            "name": "Fallback",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "address_preference": "personal",
            **addressing,
            "steps": [{"subject": "Hi {{ first_name }}", "body": "One"}],
        },
    )
    campaign_id = created.json()["id"]
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[
            {
                "first_name": "Ann",
                "addresses": [
                    {"address": "ann@acme.example.com", "type": "work"},
                    {"address": "ann@home.example.org", "type": "personal"},
                ],
            }
        ],
    )
    [ann] = added.json()["prospect_ids"]
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 202
    return campaign_id, ann


async def finished(stack: Stack, campaign_id: int, prospect_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        detail = dict(
            (await stack.api.get(f"/campaigns/{campaign_id}/prospects/{prospect_id}")).json()
        )
        if detail["status"] in ("Completed", "Bounced", "Failed"):
            return detail
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.2)


async def test_a_bounce_falls_back_to_the_work_address(stack: Stack) -> None:
    stack.sink.at_rcpt("ann@home.example.org", Answer(550, "5.1.1 User unknown"))
    campaign_id, ann = await start_with_ann(stack)

    detail = await finished(stack, campaign_id, ann)

    assert detail["status"] == "Completed"
    assert [r.envelope_to for r in stack.sink.received] == [["ann@acme.example.com"]]
    log = [(m["to_address"], m["status"]) for m in detail["messages"]]  # type: ignore[attr-defined]
    assert sorted(log) == [("ann@acme.example.com", "Sent"), ("ann@home.example.org", "Bounced")]


async def test_dont_send_to_other_types_ends_bounced(stack: Stack) -> None:
    stack.sink.at_rcpt("ann@home.example.org", Answer(550, "5.1.1 User unknown"))
    campaign_id, ann = await start_with_ann(stack, only_preferred_type=True)

    detail = await finished(stack, campaign_id, ann)

    assert detail["status"] == "Bounced"
    assert stack.sink.received == []
    assert stack.sink.attempts["ann@acme.example.com"] == 0


async def test_a_plus_addressing_mailbox_sends_with_a_per_message_return_path(stack: Stack) -> None:
    mailbox = await stack.api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": stack.sink_port,
            "tls_mode": "none",
            "from_address": "ada@hiring.example.com",
            "plus_addressing": True,
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1_000_000,
        },
    )
    campaign_id = await create_campaign(
        stack, mailbox.json()["id"], [{"subject": "Hi", "body": "One"}]
    )
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"addresses": [{"address": "zoe@example.org"}]}],
    )
    [zoe] = added.json()["prospect_ids"]
    assert (
        await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    ).status_code == 202

    detail = await finished(stack, campaign_id, zoe)

    [received] = stack.sink.received
    [logged] = detail["messages"]  # type: ignore[misc]
    assert received.envelope_from.startswith("ada+b-")
    assert received.envelope_from.endswith("@hiring.example.com")
    assert logged["envelope_from"] == received.envelope_from
    assert str(received.message["From"]) == "ada@hiring.example.com"


async def test_an_unknown_outcome_whose_copy_is_in_the_sent_folder_is_sent_and_goes_on(
    stack: Stack, imap_server: ImapTestServer
) -> None:
    """The connection drops after the final "." (the server kept the message, as Cem's
    provider did); the copy the provider filed in Sent proves it went: step 1 counts as
    Sent, nothing is sent twice, and step 2 follows."""
    imap_server.reset()
    stack.sink.at_data("cem@example.org", DropAfterAccepting())
    mailbox_id = await create_mailbox(stack)
    imap = imap_server.settings()
    assert (await stack.api.put(f"/mailboxes/{mailbox_id}/imap", json=imap)).status_code == 200
    campaign_id = await create_campaign(
        stack,
        mailbox_id,
        [
            {"subject": "Hi {{ first_name }}", "body": "One"},
            {"subject": "-", "body": "Two", "delay_minutes": 0, "thread_mode": "same_thread"},
        ],
    )
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": "Cem", "addresses": [{"address": "cem@example.org"}]}],
    )
    (cem,) = added.json()["prospect_ids"]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def provider_kept_it() -> bool:
        return len(stack.sink.received) == 1

    await eventually(provider_kept_it)
    imap_server.append(stack.sink.received[0].message.as_bytes(), folder="Sent Items")

    async def completed() -> bool:
        view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
        return bool(view["campaign"]["status"] == "Completed")

    await eventually(completed)
    detail = (await stack.api.get(f"/campaigns/{campaign_id}/prospects/{cem}")).json()
    assert detail["status"] == "Completed"
    assert [s["status"] for s in detail["steps"]] == ["Sent", "Sent"]
    assert [(m["status"], m["attempts"]) for m in detail["messages"]] == [("Sent", 1), ("Sent", 1)]
    first, second = (r.message for r in stack.sink.received)
    assert (str(first["Subject"]), str(second["Subject"])) == ("Hi Cem", "Re: Hi Cem")
    assert second["In-Reply-To"] == first["Message-ID"]  # the thread goes on from the copy
