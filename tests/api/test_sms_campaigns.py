"""Campaigns that text: sms steps, the SMS sender a campaign names, and what Start checks
before anything is sent. Draft campaigns and refused Starts need no Temporal."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine, event
from sqlmodel import Session

from outbound.accounts.members import create_workspace
from outbound.campaigns.start import prepare_start
from outbound.store.sms_senders import park_sms_sender
from outbound.store.tables import SmsSender
from tests.api.test_bad_input import STEP, make_campaign, make_mailbox, problems
from tests.api.test_members import member_client
from tests.api.test_sms_senders import SENDER
from tests.support.factories import CONSENT, consent_with

TEXT = {"kind": "sms", "body": "Hi {{ first_name }}, got a minute? Reply STOP to opt out."}
PROSPECT = {
    "first_name": "Ann",
    "addresses": [{"address": "ann@example.com"}],
    "phones": [{"number": "+14155550123", "type": "mobile"}],
}


async def make_sender(api: httpx.AsyncClient, **changes: Any) -> int:
    answer = await api.post("/sms-senders", json={**SENDER, **changes})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def make_sms_campaign(api: httpx.AsyncClient, **changes: Any) -> int:
    body = {"name": "Texts", "sms_sender_id": await make_sender(api), "steps": [TEXT], **changes}
    answer = await api.post("/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_an_all_sms_campaign_needs_no_mailbox_and_shows_its_sender(
    api: httpx.AsyncClient,
) -> None:
    sender_id = await make_sender(api)
    answer = await api.post(
        "/campaigns", json={"name": "Texts", "sms_sender_id": sender_id, "steps": [TEXT]}
    )

    assert answer.status_code == 201, answer.text
    campaign = answer.json()
    assert (campaign["mailbox_id"], campaign["sms_sender_id"]) == (None, sender_id)
    assert campaign["sms_sender"] == "Recruiting line (+14155550100)"
    (step,) = campaign["steps"]
    assert (step["kind"], step["subject"], step["body"]) == ("sms", None, TEXT["body"])


async def test_a_mixed_campaign_names_both_its_mailbox_and_its_sender(
    api: httpx.AsyncClient,
) -> None:
    body = {
        "name": "Mixed",
        "mailbox_id": await make_mailbox(api),
        "sms_sender_id": await make_sender(api),
        "steps": [STEP, {**TEXT, "delay_days": 2}, {"kind": "manual_task", "task": "Call"}],
    }
    answer = await api.post("/campaigns", json=body)

    assert answer.status_code == 201, answer.text
    assert [s["kind"] for s in answer.json()["steps"]] == ["email", "sms", "manual_task"]


async def test_steps_need_the_sender_of_their_channel(api: httpx.AsyncClient) -> None:
    sender_id = await make_sender(api)
    mailbox_id = await make_mailbox(api)

    no_sender = await api.post(
        "/campaigns", json={"name": "x", "mailbox_id": mailbox_id, "steps": [STEP, TEXT]}
    )
    no_mailbox = await api.post(
        "/campaigns", json={"name": "x", "sms_sender_id": sender_id, "steps": [TEXT, STEP]}
    )

    assert no_sender.status_code == 422
    assert problems(no_sender) == {"sms_sender_id": "sms_sender_id is required for sms steps"}
    assert no_mailbox.status_code == 422
    assert problems(no_mailbox) == {"mailbox_id": "mailbox_id is required for email steps"}
    assert (await api.get("/campaigns")).json() == []


async def test_an_sms_step_of_the_wrong_shape_is_refused(api: httpx.AsyncClient) -> None:
    sender_id = await make_sender(api)
    cases = {
        "steps[0].subject": {**TEXT, "subject": "Hi"},
        "steps[0].body": {"kind": "sms"},
        "steps[0].task": {**TEXT, "task": "Call"},
        "steps[0].thread_mode": {**TEXT, "thread_mode": "same_thread"},
    }
    for field, step in cases.items():
        answer = await api.post(
            "/campaigns", json={"name": "x", "sms_sender_id": sender_id, "steps": [step]}
        )
        assert answer.status_code == 422, field
        assert field in problems(answer), answer.text
    assert (await api.get("/campaigns")).json() == []


async def test_an_sms_template_over_1600_characters_is_refused_naming_step_and_limit(
    api: httpx.AsyncClient,
) -> None:
    sender_id = await make_sender(api)
    long_text = {"kind": "sms", "body": "x" * 1601}
    answer = await api.post(
        "/campaigns",
        json={"name": "x", "sms_sender_id": sender_id, "steps": [TEXT, long_text]},
    )

    assert answer.status_code == 422
    reason = problems(answer)["steps[1].body"]
    assert "step 2's body" in reason and "1,600 characters" in reason and "1,601" in reason


async def test_an_sms_template_is_test_rendered_like_an_email_body(
    api: httpx.AsyncClient,
) -> None:
    sender_id = await make_sender(api)
    steps = [
        {"kind": "sms", "body": "{{ ''.__class__.__mro__ }}"},
        {
            "kind": "sms",
            "body": "{% for i in range(100000) %}{% for j in range(100000) %}"
            "{% endfor %}{% endfor %}",
        },
        {"kind": "sms", "body": "Hi {{ first_name "},
    ]
    answer = await api.post(
        "/campaigns", json={"name": "x", "sms_sender_id": sender_id, "steps": steps}
    )

    assert answer.status_code == 422
    found = problems(answer)
    assert "sandbox refuses" in found["steps[0].body"]
    assert "rendering budget" in found["steps[1].body"]
    assert "steps[2].body" in found


async def test_editing_an_sms_step_keeps_to_its_kind(api: httpx.AsyncClient) -> None:
    campaign_id = await make_sms_campaign(api)

    subject = await api.patch(f"/campaigns/{campaign_id}/steps/1", json={"subject": "Hi"})
    too_long = await api.patch(f"/campaigns/{campaign_id}/steps/1", json={"body": "y" * 1601})
    fine = await api.patch(f"/campaigns/{campaign_id}/steps/1", json={"body": "New {{ title }}"})

    assert subject.status_code == 422 and problems(subject) == {
        "subject": "an sms step has no subject"
    }
    assert too_long.status_code == 422 and "1,600" in problems(too_long)["steps[0].body"]
    assert fine.status_code == 200 and fine.json()["steps"][0]["body"] == "New {{ title }}"


async def test_a_step_added_later_needs_the_sender_of_its_channel(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_sms_campaign(api)

    email = await api.post(f"/campaigns/{campaign_id}/steps", json=STEP)
    text = await api.post(f"/campaigns/{campaign_id}/steps", json=TEXT)

    assert email.status_code == 422
    assert problems(email) == {"mailbox_id": "mailbox_id is required for email steps"}
    assert text.status_code == 201 and len(text.json()["steps"]) == 2


async def test_another_workspace_s_sender_or_one_not_shared_reads_as_not_found(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    ours = await make_sender(api)
    _, key = create_workspace(api_engine, "elsewhere", "bea@example.org", "Bea")
    async with httpx.AsyncClient(
        transport=api._transport,
        base_url=str(api.base_url),
        headers={"Authorization": f"Bearer {key}"},
    ) as other:
        theirs = await other.post(
            "/campaigns", json={"name": "x", "sms_sender_id": ours, "steps": [TEXT]}
        )
        missing = await other.post(
            "/campaigns", json={"name": "x", "sms_sender_id": 999999, "steps": [TEXT]}
        )
    _, sam = await member_client(api, "sam@example.com")
    not_shared = await sam.post(
        "/campaigns", json={"name": "x", "sms_sender_id": ours, "steps": [TEXT]}
    )
    await sam.aclose()

    assert theirs.status_code == missing.status_code == not_shared.status_code == 422
    assert problems(theirs) == {"sms_sender_id": f"sms sender {ours} not found"}
    assert problems(missing) == {"sms_sender_id": "sms sender 999999 not found"}
    assert problems(not_shared) == {"sms_sender_id": f"sms sender {ours} not found"}


async def test_a_sender_a_campaign_uses_cannot_be_deleted(api: httpx.AsyncClient) -> None:
    campaign_id = await make_sms_campaign(api)
    sender_id = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["sms_sender_id"]

    answer = await api.delete(f"/sms-senders/{sender_id}")

    assert answer.status_code == 409
    assert f"campaign {campaign_id} sends through this sender" in problems(answer)["sms_sender_id"]
    assert (await api.get(f"/sms-senders/{sender_id}")).status_code == 200


async def test_start_of_a_texting_campaign_needs_the_sms_consent(api: httpx.AsyncClient) -> None:
    campaign_id = await make_sms_campaign(api)
    await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])
    without = {"consent": {k: v for k, v in CONSENT["consent"].items() if k != "sms_consented"}}

    missing = await api.post(f"/campaigns/{campaign_id}/start", json=without)
    refused = await api.post(
        f"/campaigns/{campaign_id}/start", json=consent_with(sms_consented=False)
    )

    assert missing.status_code == 422
    assert "receive text messages" in problems(missing)["consent.sms_consented"]
    assert refused.status_code == 422
    assert "must be accepted" in problems(refused)["consent.sms_consented"]
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["status"] == "Ready"


async def test_start_refuses_a_sender_that_needs_new_credentials(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_sms_campaign(api)
    await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])
    sender_id = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["sms_sender_id"]
    with Session(api_engine) as session:
        park_sms_sender(session, session.get_one(SmsSender, sender_id), "HTTP 401: bad token")

    answer = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 409
    reason = problems(answer)["sms_sender_id"]
    assert "needs new credentials (HTTP 401: bad token)" in reason
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["status"] == "Ready"


async def test_start_refuses_an_sms_template_field_a_prospect_lacks(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_sms_campaign(
        api, steps=[{"kind": "sms", "body": "Hi {{ first_name }} at {{ company }}"}]
    )
    added = await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])

    answer = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["field"] == "company"
    assert problem["prospect_ids"] == added.json()["prospect_ids"]


async def test_each_prospect_s_workflow_gets_its_number_and_legal_hours(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    hours = {"sms_quiet_start": "09:00", "sms_quiet_end": "20:00"}
    assert (await api.put("/workspace/sms-quiet-hours", json=hours)).status_code == 200
    campaign_id = await make_sms_campaign(api)
    prospects = [
        PROSPECT,  # a San Francisco mobile, no zone
        {
            "first_name": "Bob",
            "time_zone": "Europe/Paris",
            "addresses": [{"address": "bob@example.com"}],
            "phones": [
                {"number": "+33142685300", "type": "work"},
                {"number": "+33612345678", "type": "mobile"},
            ],
        },
        {"first_name": "Cem", "addresses": [{"address": "cem@example.com"}]},
    ]
    await api.post(f"/campaigns/{campaign_id}/prospects", json=prospects)

    plan = prepare_start(api_engine, campaign_id)

    recipients = [i.sms for i in plan.inputs]
    assert all(r is not None and r.sender_id == plan.sms_sender_id for r in recipients)
    assert [(r.to_number, r.quiet_hours.zone_name) for r in recipients if r] == [
        ("+14155550123", "America/Los_Angeles"),
        ("+33612345678", "Europe/Paris"),
        (None, "America/Los_Angeles"),  # no number, no zone: the sender's zone
    ]
    assert {(r.quiet_hours.start, r.quiet_hours.end) for r in recipients if r} == {
        ("09:00", "20:00")
    }
    assert plan.mailbox_id is None and all(i.mailbox_id is None for i in plan.inputs)


async def test_start_of_an_email_campaign_reads_no_phone_numbers(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_campaign(api)
    await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(api_engine, "before_cursor_execute", seen)
    try:
        plan = prepare_start(api_engine, campaign_id)
    finally:
        event.remove(api_engine, "before_cursor_execute", seen)

    assert [i.sms for i in plan.inputs] == [None]
    assert statements and not [s for s in statements if "prospect_phone" in s]


async def test_the_schedule_preview_of_an_all_sms_campaign_is_refused_not_an_error(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_sms_campaign(api)

    answer = await api.get(f"/campaigns/{campaign_id}/schedule-preview")

    assert answer.status_code == 422
    assert "texts only" in problems(answer)["campaign_id"]
