"""A campaign's company rules over the API: set at create or with PUT, shown, bad input named."""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import STEP, make_mailbox, problems


async def test_company_rules_are_set_at_create_and_with_put(api: httpx.AsyncClient) -> None:
    mailbox_id = await make_mailbox(api)
    created = await api.post(
        "/campaigns",
        json={
            "name": "C",
            "mailbox_id": mailbox_id,
            "steps": [STEP],
            "company_rule": "pause",
            "one_per_company": True,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]

    changed = await api.put(f"/campaigns/{campaign_id}/company-rules", json={"company_rule": "off"})
    shown = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]

    assert (created.json()["company_rule"], created.json()["one_per_company"]) == ("pause", True)
    assert changed.status_code == 200, changed.text
    assert (shown["company_rule"], shown["one_per_company"]) == ("off", False)


async def test_bad_company_rules_are_named(api: httpx.AsyncClient) -> None:
    mailbox_id = await make_mailbox(api)
    created = await api.post(
        "/campaigns", json={"name": "C", "mailbox_id": mailbox_id, "steps": [STEP]}
    )
    campaign_id = created.json()["id"]
    url = f"/campaigns/{campaign_id}/company-rules"

    wrong_rule = await api.put(url, json={"company_rule": "halt"})
    unknown = await api.put(url, json={"company_rule": "stop", "per_company": 1})
    missing = await api.put("/campaigns/999999/company-rules", json={"company_rule": "stop"})

    assert wrong_rule.status_code == 422 and "company_rule" in problems(wrong_rule)
    assert unknown.status_code == 422 and "per_company" in problems(unknown)
    assert missing.status_code == 404
    shown = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]
    assert shown["company_rule"] == "off"
