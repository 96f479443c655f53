"""A mailbox's warm-up and days off, a campaign's days off and the workspace's sending rules
over the API: what a good request shows, and bad input named by field with nothing stored
changed."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from tests.api.test_bad_input import make_campaign, make_mailbox, problems

RAMP_START = date(2026, 1, 5)


async def test_a_ramp_shows_today_s_limit_and_the_day_it_reaches_the_full_one(
    api: httpx.AsyncClient,
) -> None:
    mailbox_id = await make_mailbox(api)
    today_start = {"start": 10, "increment": 5}
    ramped = await api.put(f"/mailboxes/{mailbox_id}/warmup", json=today_start)
    long_ago = await api.put(
        f"/mailboxes/{mailbox_id}/warmup", json={**today_start, "started_on": str(RAMP_START)}
    )
    ended = await api.delete(f"/mailboxes/{mailbox_id}/warmup")

    assert ramped.status_code == 200, ramped.text
    plan = ramped.json()
    daily = plan["daily_limit"]
    assert daily > 10, "the test needs a daily limit the ramp starts below"
    assert plan["limit_today"] == 10
    days_to_full = -(-(daily - 10) // 5)
    started = date.fromisoformat(plan["warmup"]["started_on"])
    assert plan["full_limit_on"] == str(started + timedelta(days=days_to_full))
    assert long_ago.json()["limit_today"] == daily  # the ramp reached the full limit long ago
    assert (ended.json()["warmup"], ended.json()["limit_today"]) == (None, daily)


async def test_bad_plans_and_rules_are_named_and_change_nothing(api: httpx.AsyncClient) -> None:
    mailbox_id = await make_mailbox(api)
    campaign_id = await make_campaign(api)
    kept = {"holiday_calendar": "DE-BY", "blackout_dates": ["2030-01-02"]}
    assert (await api.put(f"/mailboxes/{mailbox_id}/days-off", json=kept)).status_code == 200
    rules_before = (await api.get("/workspace/sending-rules")).json()
    too_many_days = [str(date(2030, 1, 1) + timedelta(days=n)) for n in range(367)]
    named = {f"d{n}.example.com": {"hourly": 1, "daily": 1} for n in range(101)}

    answers = {
        "start": await api.put(f"/mailboxes/{mailbox_id}/warmup", json={"start": 0}),
        "increment": await api.put(
            f"/mailboxes/{mailbox_id}/warmup", json={"start": 5, "increment": -1}
        ),
        "per_day": await api.put(
            f"/mailboxes/{mailbox_id}/warmup", json={"start": 5, "per_day": 2}
        ),
        "holiday_calendar": await api.put(
            f"/mailboxes/{mailbox_id}/days-off", json={"holiday_calendar": "XX"}
        ),
        "blackout_dates": await api.put(
            f"/campaigns/{campaign_id}/days-off", json={"blackout_dates": too_many_days}
        ),
        "hourly": await api.put(
            "/workspace/sending-rules", json={"domain_cap": {"hourly": 50, "daily": 10}}
        ),
        "domain_caps": await api.put(
            "/workspace/sending-rules",
            json={"domain_cap": {"hourly": 5, "daily": 10}, "domain_caps": named},
        ),
    }

    named_fields = {field: problems(answer) for field, answer in answers.items()}
    for field, found in named_fields.items():
        assert answers[field].status_code == 422, (field, answers[field].text)
        assert any(field in name for name in found), (field, found)
    assert "366" in " ".join(named_fields["blackout_dates"].values())
    assert "100" in " ".join(named_fields["domain_caps"].values())
    plan = (await api.get(f"/mailboxes/{mailbox_id}/sending-plan")).json()
    assert (plan["warmup"], plan["holiday_calendar"], plan["blackout_dates"]) == (
        None,
        "DE-BY",
        ["2030-01-02"],
    )
    assert (await api.get("/workspace/sending-rules")).json() == rules_before
