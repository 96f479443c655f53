"""Notices from mail systems through the webhook: API → pipeline → Temporal → database.

A complaint opts the address out as an unsubscribe does; a notice nobody can
read is kept for a person and the sequence goes on; a success report marks
the message Delivered; a bounce that blames our sending parks the mailbox and
leaves the address alone; MIME nested past the limit is a 400.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from outbound.store.tables import InboundEvent, Mailbox, Message, Suppression
from tests.e2e.conftest import Stack
from tests.e2e.test_inbound_webhook import prospect, sent_to, started_campaign
from tests.support.inbound_mail import (
    bounce_of,
    complaint_about,
    nested_multipart,
    unreadable_notice_to,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


async def post(stack: Stack, mailbox_id: int, secret: str, raw: bytes) -> dict[str, object]:
    answer = await stack.public.post(
        f"/inbound/{mailbox_id}", content=raw, headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def test_an_arf_complaint_suppresses_the_address_and_opts_the_prospect_out(
    stack: Stack,
) -> None:
    campaign_id, mailbox_id, secret = await started_campaign(stack)
    ann = "ann.lee+jobs@gmail.com"

    done = await post(stack, mailbox_id, secret, complaint_about(sent_to(stack, ann), ann))

    assert (done["kind"], done["matched_by"]) == ("complaint", "thread")
    assert "suppressed" in str(done["action"])

    async def opted_out() -> bool:
        return (await prospect(stack, campaign_id, "Ann"))["status"] == "OptedOut"

    await eventually(opted_out)
    with Session(stack.engine) as session:
        listed = session.exec(select(Suppression.address, Suppression.source)).all()
    assert set(listed) == {(ann, "complaint"), ("annlee@gmail.com", "complaint")}
    metrics = (await stack.api.get(f"/campaigns/{campaign_id}/metrics")).json()
    assert (metrics["campaign"]["complained"], metrics["steps"][0]["complained"]) == (1, 1)
    assert (await stack.api.get(f"/mailboxes/{mailbox_id}/inbound-metrics")).json()[
        "complaints"
    ] == 1
    export = (await stack.api.get(f"/campaigns/{campaign_id}/export.csv")).text.splitlines()
    header, rows = export[0].split(","), [r.split(",") for r in export[1:]]
    (ann_row,) = [r for r in rows if r[header.index("first_name")] == "Ann"]
    assert ann_row[header.index("complained_at")] != ""
    bob = await prospect(stack, campaign_id, "Bob")
    assert bob["status"] == "Active"  # only the one who complained
    assert len(stack.sink.received) == 2


async def test_a_notice_nobody_can_read_is_kept_and_the_sequence_goes_on(stack: Stack) -> None:
    campaign_id, mailbox_id, secret = await started_campaign(stack, plus_addressing=True)
    (envelope,) = [
        r.envelope_from for r in stack.sink.received if r.envelope_to == ["bob@home.example.com"]
    ]
    notice = unreadable_notice_to(envelope)

    done = await post(stack, mailbox_id, secret, notice)

    assert (done["kind"], done["matched_by"]) == ("unrecognised_notice", "verp")
    bob = await prospect(stack, campaign_id, "Bob")
    assert bob["status"] == "Active"
    assert [s["status"] for s in bob["steps"]] == ["Sent", "Scheduled"]
    (entry,) = bob["inbound"]
    assert (entry["kind"], entry["raw_kept"]) == ("unrecognised_notice", True)
    assert "kept for a person" in entry["action"]
    raw = await stack.api.get(f"/mailboxes/{mailbox_id}/inbound-events/{entry['event_id']}/raw")
    assert (raw.status_code, raw.content) == (200, notice)
    assert raw.headers["content-type"] == "message/rfc822"
    with Session(stack.engine) as session:
        assert session.exec(select(Suppression)).all() == []


async def test_a_success_report_shows_delivered_and_a_sender_side_bounce_parks_the_mailbox(
    stack: Stack,
) -> None:
    campaign_id, mailbox_id, secret = await started_campaign(stack)
    ann, bob = "ann.lee+jobs@gmail.com", "bob@home.example.com"
    delivered = bounce_of(sent_to(stack, ann), ann, "delivered", "2.0.0", "250 2.0.0 Ok")
    dmarc = bounce_of(
        sent_to(stack, bob),
        bob,
        answer="550 5.7.26 Unauthenticated email from hiring.example.com is not accepted due "
        "to domain's DMARC policy",
        status="5.7.26",
    )

    reported = await post(stack, mailbox_id, secret, delivered)
    blamed = await post(stack, mailbox_id, secret, dmarc)

    assert reported["kind"] == "delivered" and blamed["kind"] == "bounce"
    assert "the address is not suppressed" in str(blamed["action"])
    ann_view = await prospect(stack, campaign_id, "Ann")
    assert [m["status"] for m in ann_view["messages"] if m["position"] == 1] == ["Delivered"]
    with Session(stack.engine) as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
        assert mailbox.connection_state == "needs_reauth"
        assert "DMARC" in (mailbox.connection_problem or "")
        assert session.exec(select(Suppression)).all() == []
        first = session.exec(
            select(Message.status).where(Message.to_address == bob, Message.position == 1)
        ).one()
    assert first == "Bounced"
    bob_view = await prospect(stack, campaign_id, "Bob")
    assert bob_view["status"] == "Active"  # waits for the mailbox, not Bounced
    metrics = (await stack.api.get(f"/mailboxes/{mailbox_id}/inbound-metrics")).json()
    assert (metrics["sender_side_bounces"], metrics["complaints"]) == (1, 0)


async def test_mime_nested_past_the_limit_is_a_400_and_nothing_is_recorded(stack: Stack) -> None:
    _, mailbox_id, secret = await started_campaign(stack)
    deep = nested_multipart(5_000)

    answer = await stack.public.post(
        f"/inbound/{mailbox_id}", content=deep, headers={"Authorization": f"Bearer {secret}"}
    )

    assert answer.status_code == 400
    assert "past a limit" in answer.text and "nesting deeper than 32" in answer.text
    with Session(stack.engine) as session:
        assert session.exec(select(func.count()).select_from(InboundEvent)).one() == 0
