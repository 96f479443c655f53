"""The schedule preview: what Start would do, with the numbers a person reads."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import httpx

from outbound.scheduling.windows import zone
from tests.support.factories import office_hours_mailbox

ZONE = "Europe/Berlin"


TWO_EMAILS = [
    {"subject": "Hi", "body": "One"},
    {"subject": "Again", "body": "Two", "delay_days": 3, "thread_mode": "same_thread"},
]


async def campaign_with_prospects(
    api: httpx.AsyncClient,
    count: int,
    steps: list[dict[str, object]] = TWO_EMAILS,
    **campaign: object,
) -> int:
    mailbox = await api.post("/mailboxes", json=office_hours_mailbox(ZONE))
    created = await api.post(
        "/campaigns",
        json={"name": "Preview", "mailbox_id": mailbox.json()["id"], **campaign, "steps": steps},
    )
    campaign_id = int(created.json()["id"])
    people = [{"addresses": [{"address": f"p{i}@example.com"}]} for i in range(count)]
    assert (
        await api.post(
            f"/campaigns/{campaign_id}/prospects/csv",
            files={
                "file": (
                    "p.csv",
                    "email\n" + "\n".join(p["addresses"][0]["address"] for p in people) + "\n",
                    "text/csv",
                )
            },
        )
    ).status_code == 201
    return campaign_id


async def test_the_preview_spreads_a_large_campaign_over_working_days_at_the_limit(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await campaign_with_prospects(api, 1000)
    monday_8am = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

    answer = await api.get(
        f"/campaigns/{campaign_id}/schedule-preview",
        params={"start_at": monday_8am.isoformat(), "prospects": 1000},
    )

    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["total_prospects"] == 1000
    assert preview["summary"].startswith("1,000 prospects: step 1 from Mon 23 Nov to ")
    assert "at up to 50/day" in preview["summary"]
    sends = sorted(datetime.fromisoformat(t) for p in preview["prospects"] for t in p["sends"])
    assert len(sends) == 2000
    per_day = Counter(t.astimezone(zone(ZONE)).date() for t in sends)
    assert max(per_day.values()) == 50
    assert all(day.weekday() < 5 for day in per_day)
    assert all(9 <= t.astimezone(zone(ZONE)).hour < 17 for t in sends)
    assert min(b - a for a, b in pairwise(sends)) >= timedelta(minutes=5)
    # 2,000 sends at 50 per working day take 40 working days: 8 weeks.
    assert max(per_day) - min(per_day) == timedelta(days=7 * 8 - 3)


async def test_follow_ups_are_forecast_after_their_delay(api: httpx.AsyncClient) -> None:
    campaign_id = await campaign_with_prospects(api, 3, grace_seconds=0)
    tuesday_10am = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    preview = (
        await api.get(
            f"/campaigns/{campaign_id}/schedule-preview",
            params={"start_at": tuesday_10am.isoformat()},
        )
    ).json()

    for prospect in preview["prospects"]:
        first, second = (datetime.fromisoformat(t) for t in prospect["sends"])
        assert first.date() == tuesday_10am.date()
        assert second.astimezone(zone(ZONE)).date() == first.astimezone(
            zone(ZONE)
        ).date() + timedelta(days=3)
    assert [s["position"] for s in preview["steps"]] == [1, 2]


async def test_manual_tasks_take_no_mailbox_slot_in_the_forecast(api: httpx.AsyncClient) -> None:
    steps = [
        {"kind": "manual_task", "task": "Connect on LinkedIn"},
        {"subject": "Hi", "body": "One", "delay_days": 1},
    ]
    campaign_id = await campaign_with_prospects(api, 100, steps, grace_seconds=0)
    monday_8am = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

    preview = (
        await api.get(
            f"/campaigns/{campaign_id}/schedule-preview",
            params={"start_at": monday_8am.isoformat(), "prospects": 100},
        )
    ).json()

    tasks = Counter(
        datetime.fromisoformat(p["sends"][0]).astimezone(zone(ZONE)).date()
        for p in preview["prospects"]
    )
    emails = Counter(
        datetime.fromisoformat(p["sends"][1]).astimezone(zone(ZONE)).date()
        for p in preview["prospects"]
    )
    assert tasks == Counter({monday_8am.date(): 100})  # all on Monday's to-do list
    assert sorted(emails.values()) == [50, 50]  # the emails keep the 50/day limit


async def test_preview_of_an_unknown_campaign_is_404(api: httpx.AsyncClient) -> None:
    answer = await api.get("/campaigns/404/schedule-preview")

    assert answer.status_code == 404


async def test_each_prospect_is_forecast_in_its_own_time_zone_when_the_campaign_says_so(
    api: httpx.AsyncClient,
) -> None:
    mailbox = await api.post("/mailboxes", json=office_hours_mailbox(ZONE))
    created = await api.post(
        "/campaigns",
        json={
            "name": "Zones",
            "mailbox_id": mailbox.json()["id"],
            "time_zone_source": "prospect",
            "grace_seconds": 0,
            "steps": TWO_EMAILS,
        },
    )
    campaign_id = created.json()["id"]
    rows = [
        ("ny", "America/New_York"),
        ("tokyo", "Asia/Tokyo"),
        ("none", ""),
        ("ny2", "America/New_York"),
    ]
    csv = "email,time_zone\n" + "".join(f"{name}@example.com,{tz}\n" for name, tz in rows)
    added = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", csv, "text/csv")}
    )
    ids = added.json()["prospect_ids"]
    monday_noon_berlin = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)

    preview = (
        await api.get(
            f"/campaigns/{campaign_id}/schedule-preview",
            params={"start_at": monday_noon_berlin.isoformat()},
        )
    ).json()

    sends = {
        p["prospect_id"]: [datetime.fromisoformat(t) for t in p["sends"]]
        for p in preview["prospects"]
    }
    for prospect_id, (_, tz) in zip(ids, rows, strict=True):
        local = [t.astimezone(zone(tz or ZONE)) for t in sends[prospect_id]]
        assert all(9 <= t.hour < 17 and t.weekday() < 5 for t in local), (tz, local)
    # New York opens at 15:00 Berlin time on Monday; Tokyo is closed by then until Tuesday.
    assert sends[ids[0]][0].astimezone(zone("America/New_York")).date() == monday_noon_berlin.date()
    assert sends[ids[1]][0].astimezone(
        zone("Asia/Tokyo")
    ).date() == monday_noon_berlin.date() + timedelta(days=1)


async def test_a_pool_s_forecast_keeps_every_rule_and_each_prospect_on_one_mailbox(
    api: httpx.AsyncClient,
) -> None:
    """Three mailboxes, one warming up and one with a blackout date, a campaign with
    Germany's holidays, and a tight cap for gmail.com: the preview shows each rule kept."""
    made = [
        await api.post("/mailboxes", json=office_hours_mailbox(ZONE, from_address=f"m{i}@ex.com"))
        for i in range(3)
    ]
    pool = [m.json()["id"] for m in made]
    monday = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)  # Christmas week: 25 and 26 Dec off
    warm = await api.put(
        f"/mailboxes/{pool[0]}/warmup",
        json={"start": 5, "increment": 5, "started_on": "2026-12-21"},
    )
    assert warm.status_code == 200, warm.text
    blackout = await api.put(
        f"/mailboxes/{pool[1]}/days-off", json={"blackout_dates": ["2026-12-22"]}
    )
    assert blackout.status_code == 200, blackout.text
    rules = {
        "domain_cap": {"hourly": 1000, "daily": 1000},
        "domain_caps": {"gmail.com": {"hourly": 2, "daily": 6}},
        "recontact_cooldown_days": 0,
    }
    assert (await api.put("/workspace/sending-rules", json=rules)).status_code == 200
    created = await api.post(
        "/campaigns",
        json={
            "name": "Pool",
            "mailbox_id": pool[0],
            "mailbox_pool": pool,
            "holiday_calendar": "DE",
            "steps": TWO_EMAILS,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    emails = [f"p{i}@{'gmail.com' if i % 3 == 0 else f'corp{i % 7}.example'}" for i in range(240)]
    added = await api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"addresses": [{"address": email}]} for email in emails],
    )
    assert added.status_code == 201, added.text

    answer = await api.get(
        f"/campaigns/{campaign_id}/schedule-preview",
        params={"start_at": monday.isoformat(), "prospects": 1000},
    )

    assert answer.status_code == 200, answer.text
    preview = answer.json()
    local = zone(ZONE)
    by_mailbox: dict[int, list[datetime]] = {m: [] for m in pool}
    to_gmail: dict[int, list[datetime]] = {m: [] for m in pool}
    for prospect, email in zip(preview["prospects"], emails, strict=True):
        assert prospect["mailbox_id"] in pool  # every step from the one mailbox
        sends = [datetime.fromisoformat(t) for t in prospect["sends"]]
        by_mailbox[prospect["mailbox_id"]] += sends
        to_gmail[prospect["mailbox_id"]] += sends if email.endswith("@gmail.com") else []
    shown = {m["mailbox_id"]: m for m in preview["mailboxes"]}
    assert sum(m["prospects"] for m in shown.values()) == 240
    assert all(m["prospects"] >= 40 for m in shown.values())  # the pool is used evenly
    ramp = {datetime.fromisoformat(d).date(): n for d, n in shown[pool[0]]["limits_by_day"].items()}
    assert list(ramp.values())[:3] == [5, 10, 15]
    assert preview["days_off"][:2] == ["2026-12-25", "2026-12-26"]
    assert shown[pool[1]]["days_off"] == ["2026-12-22"]
    for mailbox_id, sends in by_mailbox.items():
        per_day = Counter(t.astimezone(local).date() for t in sends)
        for day, count in per_day.items():
            assert count <= ramp.get(day, 50) if mailbox_id == pool[0] else count <= 50
            assert day.isoformat() not in preview["days_off"]
            assert day.isoformat() not in shown[mailbox_id]["days_off"]
        assert all(9 <= t.astimezone(local).hour < 17 for t in sends)
        assert min(b - a for a, b in pairwise(sorted(sends))) >= timedelta(minutes=5)
    # gmail.com: at most 2 an hour and 6 a day from each mailbox.
    for mailbox_id, mine in to_gmail.items():
        hours = Counter(t.replace(minute=0, second=0, microsecond=0) for t in mine)
        days = Counter(t.astimezone(local).date() for t in mine)
        assert max(hours.values()) <= 2 and max(days.values()) <= 6, mailbox_id
