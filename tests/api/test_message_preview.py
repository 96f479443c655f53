"""The message preview: each step rendered for a prospect (or with sample fields); a text
shows its characters, encoding and segments, as a phone would carry it."""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import STEP, make_mailbox, problems
from tests.api.test_sms_campaigns import PROSPECT, make_sender


async def mixed_campaign(api: httpx.AsyncClient, text: str) -> int:
    body = {
        "name": "Mixed",
        "mailbox_id": await make_mailbox(api),
        "sms_sender_id": await make_sender(api),
        "steps": [
            STEP,
            {"kind": "sms", "body": text, "delay_days": 2},
            {"kind": "manual_task", "task": "Call {{ first_name }}"},
        ],
    }
    answer = await api.post("/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_a_text_shows_its_characters_encoding_and_segments_for_a_prospect(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await mixed_campaign(api, "Hi {{ first_name }}, " + "x" * 150)
    added = await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])
    prospect_id = added.json()["prospect_ids"][0]

    answer = await api.get(
        f"/campaigns/{campaign_id}/message-preview", params={"prospect_id": prospect_id}
    )

    assert answer.status_code == 200, answer.text
    email, text, task = answer.json()["steps"]
    assert (email["subject"], email["body"], email["sms"]) == ("Hello Ann", "Hi Ann", None)
    assert text["body"] == "Hi Ann, " + "x" * 150
    assert text["sms"] == {"characters": 158, "encoding": "GSM-7", "segments": 1}
    assert (task["kind"], task["task"], task["body"]) == (
        "manual_task",
        "Call {{ first_name }}",
        None,
    )


async def test_a_long_text_with_an_emoji_goes_as_several_ucs2_segments(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await mixed_campaign(api, "Hi {{ first_name }} 👋 " + "y" * 100)

    answer = await api.get(f"/campaigns/{campaign_id}/message-preview")

    text = answer.json()["steps"][1]
    assert text["body"].startswith("Hi Ada 👋 ")  # sample fields without a prospect
    assert text["sms"]["encoding"] == "UCS-2"
    assert text["sms"]["segments"] == 2  # 111 UTF-16 units: over 70, two of 67
    assert answer.json()["prospect_id"] is None


async def test_a_missing_field_is_named_in_the_preview_not_refused(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await mixed_campaign(api, "At {{ company }}?")
    added = await api.post(f"/campaigns/{campaign_id}/prospects", json=[PROSPECT])
    prospect_id = added.json()["prospect_ids"][0]

    answer = await api.get(
        f"/campaigns/{campaign_id}/message-preview", params={"prospect_id": prospect_id}
    )

    text = answer.json()["steps"][1]
    assert text["body"] is None and text["sms"] is None
    assert text["problem"] == "the prospect has no value for {{ company }}"


async def test_a_prospect_not_in_the_campaign_is_not_found(api: httpx.AsyncClient) -> None:
    campaign_id = await mixed_campaign(api, "Hi")

    missing = await api.get(
        f"/campaigns/{campaign_id}/message-preview", params={"prospect_id": 999}
    )
    unknown = await api.get("/campaigns/999/message-preview")
    bad = await api.get(f"/campaigns/{campaign_id}/message-preview", params={"prospect_id": 0})

    assert missing.status_code == 404 and problems(missing) == {
        "prospect_id": "prospect 999 not found"
    }
    assert unknown.status_code == 404
    assert bad.status_code == 422 and "prospect_id" in problems(bad)
