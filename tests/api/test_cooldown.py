"""The re-contact cooldown: a prospect whose sequence ended lately waits before joining again.

The workspace's ``recontact_cooldown_days`` (PUT /workspace/sending-rules) refuses
an enrollment (JSON, CSV, add-to-campaign; in bulk, per prospect) with a 409
naming the day the prospect becomes eligible, unless the request sets
``ignore_cooldown``. Only sequences that sent the prospect something count. The
ended sequences are set in the database as the workflow's mirror leaves them
(these requests never reach Temporal).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlmodel import col

from outbound.api.in_process import in_process_clients
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Enrollment, Message
from tests.api.test_recontact import Api

RULES = {"domain_cap": {"hourly": 100, "daily": 1000}, "recontact_cooldown_days": 14}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/api.db")
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    async with in_process_clients(settings, engine, None) as clients:
        yield Api(clients.api, engine)
    engine.dispose()


async def cooldown(api: Api, days: int) -> None:
    answer = await api.client.put(
        "/workspace/sending-rules", json={**RULES, "recontact_cooldown_days": days}
    )
    assert answer.status_code == 200, answer.text


def ended(api: Api, campaign_id: int, days_ago: int, *, sent: bool = True) -> None:
    """The prospect's sequence there ended Completed ``days_ago`` days ago (after a send)."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    with api.engine.begin() as connection:
        [enrollment_id] = connection.execute(
            update(Enrollment)
            .where(col(Enrollment.campaign_id) == campaign_id)
            .values(status="Completed", ended_at=at)
            .returning(col(Enrollment.id))
        ).scalars()
        if sent:
            connection.execute(
                insert(Message).values(
                    enrollment_id=enrollment_id,
                    position=1,
                    to_address="ann@acme.example.com",
                    message_id=f"<m{enrollment_id}@x>",
                    status="Sent",
                    sent_at=at,
                )
            )


async def test_a_prospect_ended_lately_is_refused_with_the_day_they_are_eligible(
    api: Api,
) -> None:
    first, second = await api.campaign("First"), await api.campaign("Second")
    [ann] = (await api.add(first)).json()["prospect_ids"]
    await cooldown(api, 14)
    ended(api, first, days_ago=3)

    refused = await api.add(second)
    allowed = await api.add(second, "?ignore_cooldown=true")

    eligible = (datetime.now(UTC) - timedelta(days=3)).date() + timedelta(days=14)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == [
        {
            "field": "prospects",
            "reason": (
                "1 prospect(s) had a sequence end less than 14 day(s) ago (the workspace's "
                f"re-contact cooldown); eligible again on {eligible.isoformat()}; "
                "add them with ignore_cooldown=true to write to them now"
            ),
            "prospect_ids": [ann],
        }
    ]
    assert allowed.status_code == 201 and allowed.json()["enrolled"] == 1, allowed.text


async def test_past_the_cooldown_or_without_a_send_or_with_it_off_they_may_join(
    api: Api,
) -> None:
    long_ago, unsent, off, target = [
        await api.campaign(n) for n in ("Long ago", "Unsent", "Off", "Target")
    ]
    await api.add(long_ago)
    await cooldown(api, 14)
    ended(api, long_ago, days_ago=14)  # ended on day D: eligible from day D + 14
    assert (await api.add(target)).status_code == 201

    await api.add(unsent, "?allow_other_active=true")  # this one ends before any send
    ended(api, unsent, days_ago=0, sent=False)
    assert (await api.add(off, "?allow_other_active=true")).status_code == 201

    await cooldown(api, 0)
    ended(api, off, days_ago=0)
    third = await api.campaign("Third")
    assert (await api.add(third, "?allow_other_active=true")).status_code == 201


async def test_csv_and_add_to_campaign_refuse_them_too(api: Api) -> None:
    first, second, third = [await api.campaign(n) for n in ("First", "Second", "Third")]
    [ann] = (await api.add(first)).json()["prospect_ids"]
    await api.add(second, "?allow_other_active=true")
    await cooldown(api, 30)
    ended(api, first, days_ago=1)
    csv = {"file": ("p.csv", "first_name,email\nAnn,ann@acme.example.com\n", "text/csv")}

    by_csv = await api.client.post(f"/campaigns/{third}/prospects/csv", files=csv)
    one = await api.client.post(
        f"/campaigns/{second}/prospects/{ann}/add-to-campaign", json={"campaign_id": third}
    )
    bulk = await api.client.post(
        f"/campaigns/{second}/bulk",
        json={
            "action": "add_to_campaign",
            "prospect_ids": [ann],
            "target": {"campaign_id": third, "allow_other_active": True},
        },
    )
    forced = await api.client.post(
        f"/campaigns/{second}/prospects/{ann}/add-to-campaign",
        json={"campaign_id": third, "ignore_cooldown": True, "allow_other_active": True},
    )

    eligible = ((datetime.now(UTC) - timedelta(days=1)).date() + timedelta(days=30)).isoformat()
    assert by_csv.status_code == 409 and f"eligible again on {eligible}" in by_csv.text
    assert one.status_code == 409 and f"eligible again on {eligible}" in one.text
    assert bulk.status_code == 200, bulk.text
    [problem] = bulk.json()["refused"]
    assert problem["prospect_ids"] == [ann] and f"eligible again on {eligible}" in problem["reason"]
    assert forced.status_code == 201, forced.text
