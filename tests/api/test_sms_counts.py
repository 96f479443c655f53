"""What a campaign that texts counts: messages per channel in its summary, and per sms step
sent, delivered, failed, opted out and replied, in its metrics and its CSV export. The email
figures stay as they were."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from outbound.store.tables import Enrollment, Message
from tests.api.test_bad_input import STEP, make_campaign
from tests.api.test_message_preview import mixed_campaign

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PEOPLE = ["Ann", "Bob", "Cem", "Dia"]
# name: (SMS status, texted?, enrollment status, replied after the text?)
OUTCOMES = {
    "Ann": ("Delivered", True, "Replied", True),
    "Bob": ("AssumedDelivered", True, "Completed", False),
    "Cem": ("Failed", False, "Failed", False),
    "Dia": ("OptedOut", False, "OptedOut", False),
}


async def texted_campaign(api: httpx.AsyncClient, engine: Engine) -> int:
    """Email step 1 sent to all four; the text of step 2 ended as OUTCOMES says (the
    manual task of step 3 not reached)."""
    campaign_id = await mixed_campaign(api, "Hi {{ first_name }}")
    people = [
        {
            "first_name": name,
            "addresses": [{"address": f"{name.lower()}@example.com"}],
            "phones": [{"number": f"+1415555010{i}"}],
        }
        for i, name in enumerate(PEOPLE)
    ]
    added = await api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    ids = dict(zip(PEOPLE, added.json()["prospect_ids"], strict=True))
    with Session(engine) as session:
        for name, (status, texted, ended, replied) in OUTCOMES.items():
            enrollment = session.exec(
                select(Enrollment).where(
                    Enrollment.campaign_id == campaign_id, Enrollment.prospect_id == ids[name]
                )
            ).one()
            assert enrollment.id is not None
            enrollment.status = ended
            enrollment.replied_at = T0 + timedelta(days=3) if replied else None
            session.add(enrollment)
            session.add(
                Message(
                    enrollment_id=enrollment.id,
                    position=1,
                    to_address=f"{name.lower()}@example.com",
                    subject="Hello",
                    message_id=f"<{name}@outbound>",
                    status="Sent",
                    sent_at=T0,
                )
            )
            session.add(
                Message(
                    enrollment_id=enrollment.id,
                    position=2,
                    to_address=f"+1415555010{PEOPLE.index(name)}",
                    message_id=f"sms-{name}",
                    status=status,
                    sent_at=T0 + timedelta(days=2) if texted else None,
                    failure_reason="Timed Out" if status == "Failed" else None,
                    channel="sms",
                )
            )
        session.commit()
    return campaign_id


async def test_metrics_count_each_sms_step_and_keep_the_email_figures(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await texted_campaign(api, api_engine)

    metrics = (await api.get(f"/campaigns/{campaign_id}/metrics")).json()

    (email,) = metrics["steps"]
    assert email["position"] == 1
    assert (email["sent"], email["delivered"], email["replied"]) == (
        4,
        4,
        0,
    )  # Ann answered the text
    (text,) = metrics["sms_steps"]
    figures = {
        k: text[k] for k in ("position", "sent", "delivered", "failed", "opted_out", "replied")
    }
    assert figures == {
        "position": 2,
        "sent": 2,
        "delivered": 2,  # AssumedDelivered counts as delivered
        "failed": 1,
        "opted_out": 1,
        "replied": 1,
    }
    assert text["rates"]["delivered"] == 0.5
    assert metrics["sms"]["sent"] == 2 and metrics["sms"]["replied"] == 1
    assert (metrics["campaign"]["sent"], metrics["campaign"]["replied"]) == (4, 1)
    assert metrics["campaign"]["opted_out"] == 1


async def test_the_summary_counts_messages_per_channel(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await texted_campaign(api, api_engine)

    detail = (await api.get(f"/campaigns/{campaign_id}")).json()

    # Only Cem (Failed, awaiting a Retry) has not ended: one email and one text to go.
    assert detail["messages"] == {
        "email": {"steps": 1, "planned": 1, "logged": {"Sent": 4}},
        "sms": {
            "steps": 1,
            "planned": 1,
            "logged": {"Delivered": 1, "AssumedDelivered": 1, "Failed": 1, "OptedOut": 1},
        },
    }


async def test_before_start_the_summary_says_how_many_texts_will_go(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await mixed_campaign(api, "Hi")
    await api.post(f"/campaigns/{campaign_id}/steps", json={"kind": "sms", "body": "Again?"})
    await api.post(f"/campaigns/{campaign_id}/steps", json=STEP)
    people = [
        {"first_name": n, "addresses": [{"address": f"{n}@example.com"}]} for n in ("a", "b", "c")
    ]
    await api.post(f"/campaigns/{campaign_id}/prospects", json=people)

    messages = (await api.get(f"/campaigns/{campaign_id}")).json()["messages"]

    assert messages["sms"] == {"steps": 2, "planned": 6, "logged": {}}
    assert messages["email"] == {"steps": 2, "planned": 6, "logged": {}}


async def test_the_export_shows_each_prospect_s_text_per_sms_step(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await texted_campaign(api, api_engine)

    exported = await api.get(f"/campaigns/{campaign_id}/export.csv")

    rows = {r["first_name"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert {name: rows[name]["sms_step_2"] for name in PEOPLE} == {
        "Ann": "Replied",
        "Bob": "AssumedDelivered",
        "Cem": "Failed",
        "Dia": "OptedOut",
    }
    assert rows["Bob"]["sms_to"] == "'+14155550101"  # text in a spreadsheet, + kept
    assert rows["Ann"]["steps_sent"] == "2"


async def test_an_email_campaign_s_export_and_summary_have_no_sms_part(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)

    exported = await api.get(f"/campaigns/{campaign_id}/export.csv")
    detail = (await api.get(f"/campaigns/{campaign_id}")).json()

    header = exported.text.splitlines()[0].split(",")
    assert not [column for column in header if column.startswith("sms_")]
    assert list(detail["messages"]) == ["email"]
