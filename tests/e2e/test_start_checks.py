"""Start refuses a campaign whose templates use a field some prospect lacks; nothing is sent."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_campaign, create_mailbox
from tests.support.factories import CONSENT

pytestmark = pytest.mark.e2e


async def test_missing_template_field_is_refused_at_start_naming_field_and_prospects(
    stack: Stack,
) -> None:
    mailbox_id = await create_mailbox(stack)
    campaign_id = await create_campaign(
        stack,
        mailbox_id,
        [
            {"subject": "Hi {{ first_name }}", "body": "Love {{ company }}'s work."},
            {"subject": "Re", "body": "Still keen, {{ first_name }}?", "delay_days": 1},
        ],
    )
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[
            {"first_name": "Ann", "company": "Acme", "addresses": [{"address": "ann@example.com"}]},
            {"first_name": "Bob", "addresses": [{"address": "bob@example.com"}]},
            {"company": "Cogs", "addresses": [{"address": "cem@example.com"}]},
            {"first_name": "Dia", "company": " ", "addresses": [{"address": "dia@example.com"}]},
        ],
    )
    ids = added.json()["prospect_ids"]

    answer = await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 422
    problems = {p["field"]: p for p in answer.json()["detail"]}
    assert set(problems) == {"company", "first_name"}
    assert problems["company"]["prospect_ids"] == [ids[1], ids[3]]  # a blank counts as missing
    assert problems["first_name"]["prospect_ids"] == [ids[2]]
    assert "{{ company }}" in problems["company"]["reason"]

    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    assert view["campaign"]["status"] == "Ready"
    assert {p["status"] for p in view["prospects"]} == {"NotStarted"}
    assert all(p["workflow_id"] is None for p in view["prospects"])
    started = [w async for w in stack.api_temporal.list_workflows(f"CampaignId = '{campaign_id}'")]
    assert started == []
    assert stack.sink.received == []
