"""Opt-out through the List-Unsubscribe header: API → database → workflows → SMTP sink.

The URL is taken from a message the sink received and POSTed with the exact
RFC 8058 body, as Gmail or Yahoo do it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, col, select

from outbound.store.tables import Suppression, TrackingEvent
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.e2e.test_inbound_webhook import prospect
from tests.support.factories import CONSENT
from tests.support.polling import eventually
from tests.support.rfc2369 import list_urls, one_click_post

pytestmark = pytest.mark.e2e

TWO_STEPS = [
    {
        "subject": "A role at {{ company }}",
        "body": "Hi {{ first_name }}\n\nNot for you? {{ unsubscribe_url }}\n",
    },
    {"subject": "Following up", "body": "Again", "delay_days": 2},
]
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
ANN = "ann.lee+jobs@gmail.com"


def suppressed(stack: Stack) -> list[tuple[str, str]]:
    with Session(stack.engine) as session:
        rows = session.exec(select(Suppression).where(col(Suppression.removed_at).is_(None))).all()
    return sorted((row.address, row.source) for row in rows)


def https_unsubscribe(stack: Stack, address: str, subject: str) -> str:
    (message,) = [
        r.message
        for r in stack.sink.received
        if r.envelope_to == [address] and r.message["Subject"] == subject
    ]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    targets = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    (url,) = [t for t in targets if t.startswith("http")]
    assert ANN not in url and "ann" not in url.lower()  # no personal data in the link
    assert url in message.get_content()  # {{ unsubscribe_url }} in the body is the same link
    return url


async def two_campaigns_sent(stack: Stack) -> tuple[int, int, int]:
    """Ann in two campaigns of one owner (override), Dia in the first; step 1 sent to all."""
    mailbox_id = await create_mailbox(stack)
    first = await create_campaign(stack, mailbox_id, TWO_STEPS)
    second = await create_campaign(
        stack, mailbox_id, [{**TWO_STEPS[0], "subject": "Another role"}, TWO_STEPS[1]]
    )
    ann = {"first_name": "Ann", "company": "Acme", "addresses": [{"address": ANN}]}
    dia = {"first_name": "Dia", "company": "Dyno", "addresses": [{"address": "dia@dyno.example"}]}
    added = await stack.api.post(f"/campaigns/{first}/prospects", json=[ann, dia])
    assert added.is_success, added.text
    ann_id = added.json()["prospect_ids"][0]
    again = await stack.api.post(  # the same address: the same prospect
        f"/campaigns/{second}/prospects", params={"allow_other_active": "true"}, json=[ann]
    )
    assert again.is_success and again.json()["prospect_ids"] == [ann_id], again.text
    for campaign_id in (first, second):
        started = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
        assert started.is_success, started.text

    async def step_one_sent() -> bool:  # at the sink and mirrored in the database
        states = [
            await prospect(stack, first, "Ann"),
            await prospect(stack, first, "Dia"),
            await prospect(stack, second, "Ann"),
        ]
        return len(stack.sink.received) == 3 and all(s["status"] == "Active" for s in states)

    await eventually(step_one_sent)
    return first, second, ann_id


async def test_one_click_stops_every_sequence_to_the_address_and_a_forged_token_nothing(
    stack: Stack,
) -> None:
    first, second, _ = await two_campaigns_sent(stack)
    url = https_unsubscribe(stack, ANN, "A role at Acme")
    path = url.removeprefix(stack.settings.public_base_url)
    token = path.rsplit("/", 1)[1]
    forged = path[: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    refused = await stack.public.post(
        forged, content="List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert refused.status_code == 400
    assert suppressed(stack) == []
    assert (await prospect(stack, first, "Ann"))["status"] == "Active"

    page = await stack.public.get(path)  # a link scanner's GET changes nothing
    assert page.status_code == 200 and "List-Unsubscribe" in page.text
    assert suppressed(stack) == []

    done = await stack.public.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    repeated = await stack.public.post(
        path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK
    )

    assert done.status_code == 200 and "location" not in done.headers
    assert "set-cookie" not in done.headers
    assert repeated.status_code == 200
    assert suppressed(stack) == [
        ("ann.lee+jobs@gmail.com", "unsubscribe"),
        ("annlee@gmail.com", "unsubscribe"),
    ]

    async def both_opted_out() -> bool:
        states = [await prospect(stack, c, "Ann") for c in (first, second)]
        return all(s["status"] == "OptedOut" for s in states)

    await eventually(both_opted_out)
    for campaign_id in (first, second):
        ann = await prospect(stack, campaign_id, "Ann")
        assert [s["status"] for s in ann["steps"]] == ["Sent", "Stopped"]
        handle = stack.api_temporal.get_workflow_handle(ann["workflow_id"])
        assert (await handle.describe()).status is not None
        await handle.result()  # the sequence has ended: nothing more can be sent
    assert (await prospect(stack, first, "Dia"))["status"] == "Active"
    ann_first = await prospect(stack, first, "Ann")
    assert ann_first["engagement"]["opted_out_at"] is not None
    with Session(stack.engine) as session:
        hits = session.exec(select(TrackingEvent).where(TrackingEvent.kind == "unsubscribe")).all()
    assert len(hits) == 1  # the repeated POST was not counted twice


async def test_a_suppressed_address_is_never_enrolled_again_in_any_spelling(stack: Stack) -> None:
    first, _, _ = await two_campaigns_sent(stack)
    path = https_unsubscribe(stack, ANN, "A role at Acme").removeprefix(
        stack.settings.public_base_url
    )
    assert (
        await stack.public.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    ).status_code == 200
    mailbox_id = (await stack.api.get(f"/campaigns/{first}")).json()["campaign"]["mailbox_id"]
    later = await create_campaign(stack, mailbox_id, TWO_STEPS)

    ann = {"first_name": "Ann", "company": "Acme", "addresses": [{"address": ANN}]}
    same = await stack.api.post(f"/campaigns/{later}/prospects", json=[ann])
    other_spelling: dict[str, Any] = {
        "first_name": "Ann",
        "company": "Acme",
        "addresses": [{"address": "Ann.Lee@googlemail.com"}],
    }
    respelled = await stack.api.post(f"/campaigns/{later}/prospects", json=[other_spelling])

    for answer in (same, respelled):
        assert answer.status_code == 409, answer.text
        assert "suppression list" in answer.text
    view = (await stack.api.get(f"/campaigns/{later}")).json()
    assert view["total_prospects"] == 0
    assert len(stack.sink.received) == 3  # nothing more went out


async def test_the_mailto_unsubscribe_read_by_the_webhook_opts_out(stack: Stack) -> None:
    mailbox_id = await create_mailbox(stack)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    campaign_id = await create_campaign(stack, mailbox_id, TWO_STEPS)
    ann = {"first_name": "Ann", "company": "Acme", "addresses": [{"address": ANN}]}
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=[ann])).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def sent() -> bool:
        return len(stack.sink.received) == 1

    await eventually(sent)
    # Read as a receiver does, off the wire: angle-bracketed URLs, no encoded words.
    raw = stack.sink.received[0].raw
    https, mailto = list_urls(raw)
    assert https.startswith(f"{stack.settings.public_base_url}/unsubscribe/")
    assert mailto.startswith("mailto:")
    assert one_click_post(raw) == "List-Unsubscribe=One-Click"
    address, _, query = mailto.removeprefix("mailto:").partition("?subject=")
    assert address == "ada@hiring.example.com"  # the mailbox whose mail we read
    subject = query.replace("%20", " ")
    request = (
        f"From: {ANN}\r\nTo: {address}\r\nSubject: {subject}\r\n"
        "Message-ID: <unsub-1@gmail.com>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
        "Content-Type: text/plain\r\n\r\nThis message was automatically generated.\r\n"
    ).encode()

    answer = await stack.public.post(
        f"/inbound/{mailbox_id}", content=request, headers={"Authorization": f"Bearer {secret}"}
    )

    assert answer.status_code == 202 and answer.json()["kind"] == "unsubscribe", answer.text

    async def opted_out() -> bool:
        return bool((await prospect(stack, campaign_id, "Ann"))["status"] == "OptedOut")

    await eventually(opted_out)
    assert ("ann.lee+jobs@gmail.com", "unsubscribe") in suppressed(stack)
    assert len(stack.sink.received) == 1
