"""Prospects with only a phone number (seed 004's SMS contacts): added by JSON or CSV,
listed, exported and started in an all-SMS campaign; neither an address nor a number
is a 422."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from outbound.campaigns import start as campaign_start
from outbound.campaigns.start import prepare_start
from outbound.domain.statuses import SuppressionSource
from outbound.settings import Settings
from outbound.store.suppressions import suppress
from outbound.store.tables import Campaign
from tests.api.test_bad_input import STEP, make_mailbox, problems
from tests.api.test_sms_campaigns import TEXT, make_sender, make_sms_campaign
from tests.support.factories import CONSENT

ONLY_PHONE = {"first_name": "Dee", "phones": [{"number": "+14155550124"}]}
CSV = "first_name,phone\nEve,+14155550125\n"


@pytest.fixture
def no_fan_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start answers without Temporal: the fan-out workflow is not started."""

    async def started(_client: object, _settings: Settings, plan: object) -> str:
        return "launch-test"

    monkeypatch.setattr(campaign_start, "start_fan_out", started)


async def test_a_phone_only_prospect_joins_an_sms_campaign_and_starts(
    api: httpx.AsyncClient, api_engine: Engine, no_fan_out: None
) -> None:
    campaign_id = await make_sms_campaign(api)

    added = await api.post(f"/campaigns/{campaign_id}/prospects", json=[ONLY_PHONE])
    from_csv = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", CSV, "text/csv")}
    )

    assert added.status_code == 201, added.text
    assert from_csv.status_code == 201, from_csv.text
    view = (await api.get(f"/campaigns/{campaign_id}")).json()
    assert view["total_prospects"] == 2
    assert sorted(p["name"] for p in view["prospects"]) == ["Dee", "Eve"]
    (prospect_id,) = added.json()["prospect_ids"]
    detail = await api.get(f"/campaigns/{campaign_id}/prospects/{prospect_id}")
    assert detail.status_code == 200, detail.text
    plan = prepare_start(api_engine, campaign_id)
    assert [(i.to_address, i.sms and i.sms.to_number) for i in plan.inputs] == [
        (None, "+14155550124"),
        (None, "+14155550125"),
    ]
    started = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    assert started.status_code == 202, started.text
    assert started.json()["to_start"] == 2
    export = await api.get(f"/campaigns/{campaign_id}/export.csv")
    assert export.status_code == 200
    assert "Dee" in export.text and "Eve" in export.text


async def test_a_phone_only_prospect_is_reused_by_its_number(api: httpx.AsyncClient) -> None:
    first = await make_sms_campaign(api)
    second = await make_sms_campaign(api)

    once = await api.post(f"/campaigns/{first}/prospects", json=[ONLY_PHONE, ONLY_PHONE])
    again = await api.post(
        f"/campaigns/{second}/prospects", json=[ONLY_PHONE], params={"allow_other_active": True}
    )

    assert once.status_code == 201 and again.status_code == 201, again.text
    assert len(set(once.json()["prospect_ids"])) == 1
    assert again.json()["prospect_ids"] == once.json()["prospect_ids"][:1]


async def test_a_phone_only_prospect_whose_number_opted_out_is_refused(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_sms_campaign(api)
    with Session(api_engine) as session:  # as an inbound STOP lists it
        workspace_id = session.get_one(Campaign, campaign_id).workspace_id
        suppress(session, workspace_id, "+14155550124", SuppressionSource.SMS_STOP, "STOP")
        session.commit()

    answer = await api.post(f"/campaigns/{campaign_id}/prospects", json=[ONLY_PHONE])

    assert answer.status_code == 409
    assert "suppression list" in problems(answer)["prospects"]


async def test_a_mixed_campaign_plans_no_address_for_a_phone_only_prospect(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    body = {
        "name": "Mixed",
        "mailbox_id": await make_mailbox(api),
        "sms_sender_id": await make_sender(api),
        "steps": [STEP, {**TEXT, "delay_days": 2}],
    }
    campaign_id = int((await api.post("/campaigns", json=body)).json()["id"])
    await api.post(f"/campaigns/{campaign_id}/prospects", json=[ONLY_PHONE])

    (planned,) = prepare_start(api_engine, campaign_id).inputs

    # The email step fails NoAddress in the workflow, as for any prospect without one.
    assert (planned.to_address, planned.fallback_addresses) == (None, [])
    assert planned.sms is not None and planned.sms.to_number == "+14155550124"


async def test_a_prospect_needs_an_address_or_a_number(api: httpx.AsyncClient) -> None:
    campaign_id = await make_sms_campaign(api)

    as_json = await api.post(f"/campaigns/{campaign_id}/prospects", json=[{"first_name": "Nil"}])
    as_csv = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv",
        files={"file": ("p.csv", "first_name,email,phone\nNil,,\n", "text/csv")},
    )

    assert as_json.status_code == 422
    (field,) = problems(as_json)
    assert field.endswith("addresses"), as_json.text
    assert problems(as_json)[field] == "give an email address or a phone number"
    assert as_csv.status_code == 422
    assert problems(as_csv) == {"row 2: email/phone": "give an email address or a phone number"}
