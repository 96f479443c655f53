"""Opens, clicks, replies, bounces and opt-outs of one campaign, counted by the definitions.

Four prospects, two steps, open and click tracking on, through the real stack:

* Ann opens step 1 twice, clicks its link, and replies after step 2;
* Bob's address is refused with 550 5.1.1 (Bounced; step 2 never goes);
* Cem unsubscribes with step 1's one-click link;
* Dia opens step 2.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from sqlmodel import Session, func, select

from outbound.devstack.fault_sink import Answer
from outbound.store.tables import TrackingEvent
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_mailbox
from tests.e2e.test_inbound_webhook import prospect
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

JOB = "https://jobs.example.com/42?ref=mail"
STEPS = [
    {
        "subject": "A role at {{ company }}",
        "body": f"Hi {{{{ first_name }}}}, the role: {JOB}.\nThe team: https://acme.example.com/team\n",
    },
    {"subject": "Following up", "body": f"Still open: {JOB}\n"},
]
PEOPLE = [
    ("Ann", "Acme", "ann@acme.example.com"),
    ("Bob", "Bolt", "bob@bolt.example.com"),
    ("Cem", "Cogs", "cem@cogs.example.org"),
    ("Dia", "=Dyno", "dia@dyno.example.org"),
]


def received(stack: Stack, address: str, subject_start: str) -> EmailMessage:
    (message,) = [
        r.message
        for r in stack.sink.received
        if r.envelope_to == [address] and str(r.message["Subject"]).startswith(subject_start)
    ]
    return message


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "an open-tracked message has an HTML alternative"
    return str(part.get_content())


def pixel_path(stack: Stack, message: EmailMessage) -> str:
    (src,) = re.findall(r'<img src="([^"]+)"', html_part(message))
    return src.removeprefix(stack.settings.public_base_url)


def click_paths(stack: Stack, message: EmailMessage) -> list[str]:
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    base = re.escape(stack.settings.public_base_url)
    return [  # the sentence's full stop after a link is not part of it
        url.removeprefix(stack.settings.public_base_url).rstrip(".")
        for url in re.findall(rf"{base}/track/click/[\w.-]+", str(text.get_content()))
    ]


def reply_now(message_id: str, sender: str) -> bytes:
    return (
        f"From: Ann <{sender}>\r\nTo: ada@hiring.example.com\r\nSubject: Re: Following up\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        "Message-ID: <ann-reply-1@acme.example.com>\r\n"
        f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nSounds good, call me.\r\n"
    ).encode()


async def campaign_with_outcomes(stack: Stack) -> int:
    mailbox_id = await create_mailbox(stack)
    secret = (await stack.api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).json()["secret"]
    created = await stack.api.post(
        "/campaigns",
        json={
            "name": "Tracked",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "track_opens": True,
            "track_clicks": True,
            "steps": STEPS,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = int(created.json()["id"])
    stack.sink.at_rcpt("bob@bolt.example.com", Answer(550, "5.1.1 <bob@bolt.example.com>: no"))
    people = [{"first_name": n, "company": c, "addresses": [{"address": a}]} for n, c, a in PEOPLE]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def both_steps_sent() -> bool:
        bob = await prospect(stack, campaign_id, "Bob")
        return len(stack.sink.received) == 6 and bob["status"] == "Bounced"

    await eventually(both_steps_sent)
    ann_first = received(stack, "ann@acme.example.com", "A role")
    for _ in range(2):
        assert (await stack.public.get(pixel_path(stack, ann_first))).status_code == 200
    clicked = await stack.public.get(click_paths(stack, ann_first)[0])
    assert (clicked.status_code, clicked.headers["location"]) == (302, JOB)
    ann_second = received(stack, "ann@acme.example.com", "Following up")
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}",
        content=reply_now(str(ann_second["Message-ID"]), "ann@acme.example.com"),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 202, answer.text
    cem_first = received(stack, "cem@cogs.example.org", "A role")
    (unsubscribe,) = re.findall(r"<(http[^>]+)>", str(cem_first["List-Unsubscribe"]))
    opted = await stack.public.post(
        unsubscribe.removeprefix(stack.settings.public_base_url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert opted.status_code == 200
    dia_second = received(stack, "dia@dyno.example.org", "Following up")
    assert (await stack.public.get(pixel_path(stack, dia_second))).status_code == 200
    return campaign_id


def rates(counts: dict[str, int], prospects: int) -> dict[str, float]:
    return {name: round(n / prospects, 4) for name, n in counts.items()}


async def test_metrics_count_prospects_per_step_and_per_campaign(stack: Stack) -> None:
    campaign_id = await campaign_with_outcomes(stack)

    metrics = (await stack.api.get(f"/campaigns/{campaign_id}/metrics")).json()

    step_one = dict(
        sent=3, delivered=3, bounced=1, opened=1, clicked=1, replied=0, opted_out=1, complained=0
    )
    step_two = dict(
        sent=3, delivered=3, bounced=0, opened=1, clicked=0, replied=1, opted_out=0, complained=0
    )
    overall = dict(
        sent=3, delivered=3, bounced=1, opened=2, clicked=1, replied=1, opted_out=1, complained=0
    )
    assert metrics["prospects"] == 4
    assert metrics["steps"] == [
        {"position": 1, **step_one, "rates": rates(step_one, 4)},
        {"position": 2, **step_two, "rates": rates(step_two, 4)},
    ]
    assert metrics["campaign"] == {**overall, "rates": rates(overall, 4)}
    ann = (await prospect(stack, campaign_id, "Ann"))["engagement"]
    assert (ann["opens"], ann["clicks"]) == (2, 1)
    assert ann["first_opened_at"] <= ann["last_opened_at"] and ann["replied_at"] is not None

    exported = await stack.api.get(f"/campaigns/{campaign_id}/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = {row["first_name"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert (rows["Ann"]["opens"], rows["Ann"]["clicks"], rows["Ann"]["status"]) == (
        "2",
        "1",
        "Replied",
    )
    assert (rows["Bob"]["bounced"], rows["Bob"]["steps_sent"]) == ("yes", "0")
    assert (rows["Cem"]["status"], rows["Cem"]["opted_out_at"] != "") == ("OptedOut", True)
    assert rows["Dia"]["company"] == "'=Dyno"  # no formula in a spreadsheet


async def test_the_click_redirect_goes_only_to_the_stored_link(stack: Stack) -> None:
    campaign_id = await campaign_with_outcomes(stack)
    message = received(stack, "dia@dyno.example.org", "A role")
    first, second = click_paths(stack, message)
    token = first.rsplit("/", 1)[1]
    payload, stamp, signature = token.split(".")
    key, position = json.loads(_b64(payload))
    assert isinstance(key, str) and len(key) == 22  # an opaque key, no row id
    other_message = json.dumps([key[::-1], position], separators=(",", ":")).encode()
    moved = ".".join(
        [base64.urlsafe_b64encode(other_message).decode().rstrip("="), stamp, signature]
    )

    injected = await stack.public.get(first, params={"url": "https://evil.example/phish"})
    team = await stack.public.get(second)
    # The signature's first character (its last may carry bits base64 ignores, so changing
    # it can leave the same bytes: a flaky test seen in CI).
    head, _, tail = first.rpartition(".")
    altered = await stack.public.get(f"{head}.{'A' if tail[0] != 'A' else 'B'}{tail[1:]}")
    other = await stack.public.get(f"/track/click/{moved}")
    forged_pixel = await stack.public.get(f"/track/open/{moved}")

    assert (injected.status_code, injected.headers["location"]) == (302, JOB)
    assert team.headers["location"] == "https://acme.example.com/team"
    for refused in (altered, other):
        assert refused.status_code == 404 and "location" not in refused.headers
    assert forged_pixel.status_code == 200  # the same image: a guess learns nothing
    with Session(stack.engine) as session:
        dia_hits = session.exec(select(func.count()).select_from(TrackingEvent)).one()
    metrics: dict[str, Any] = (await stack.api.get(f"/campaigns/{campaign_id}/metrics")).json()
    # Ann's 2 opens and click, Cem's opt-out, Dia's open, and the two genuine clicks here.
    assert dia_hits == 7
    assert metrics["campaign"]["clicked"] == 2


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
