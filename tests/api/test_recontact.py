"""Writing again to someone whose last sequence ended with their answer takes a decision.

A prospect who replied, bounced or opted out in one campaign is refused by the
next (409 naming the campaign and the outcome) unless the request says
``allow_recontact``. A prospect whose sequence merely ended (Stopped,
Completed) can be added or moved anywhere. The ended states are set in the
database as the workflow's mirror would leave them: these requests never reach
Temporal (the campaigns they add to have not started).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from outbound.api.in_process import in_process_clients
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Enrollment
from tests.api.test_bad_input import MAILBOX, STEP

ANN = [{"first_name": "Ann", "addresses": [{"address": "ann@acme.example.com"}]}]


@dataclass
class Api:
    client: httpx.AsyncClient
    engine: Engine

    async def campaign(self, name: str) -> int:
        mailbox = await self.client.post("/mailboxes", json=MAILBOX)
        created = await self.client.post(
            "/campaigns", json={"name": name, "mailbox_id": mailbox.json()["id"], "steps": [STEP]}
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    async def add(self, campaign_id: int, query: str = "") -> httpx.Response:
        return await self.client.post(f"/campaigns/{campaign_id}/prospects{query}", json=ANN)

    def ended(self, campaign_id: int, status: str) -> None:
        """The prospect's sequence there ended with ``status`` (as the mirror records it)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(Enrollment)
                .where(col(Enrollment.campaign_id) == campaign_id)
                .values(status=status)
            )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/api.db")
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    async with in_process_clients(settings, engine, None) as clients:
        yield Api(clients.api, engine)
    engine.dispose()


@pytest.mark.parametrize("outcome", ["Replied", "Bounced", "OptedOut"])
async def test_someone_who_answered_is_refused_unless_the_request_allows_it(
    api: Api, outcome: str
) -> None:
    first, second = await api.campaign("First"), await api.campaign("Second")
    [ann] = (await api.add(first)).json()["prospect_ids"]
    api.ended(first, outcome)

    refused = await api.add(second)
    allowed = await api.add(second, "?allow_recontact=true")

    assert refused.status_code == 409, refused.text
    [problem] = refused.json()["detail"]
    assert problem == {
        "field": "prospects",
        "reason": (
            f"1 prospect(s) ended {outcome} in campaign {first} ('First'); "
            "add them with allow_recontact=true to write to them again"
        ),
        "prospect_ids": [ann],
    }
    assert allowed.status_code == 201 and allowed.json()["enrolled"] == 1, allowed.text


async def test_the_csv_import_refuses_them_too(api: Api) -> None:
    first, second = await api.campaign("First"), await api.campaign("Second")
    await api.add(first)
    api.ended(first, "Replied")
    csv = {"file": ("p.csv", "first_name,email\nAnn,ann@acme.example.com\n", "text/csv")}

    refused = await api.client.post(f"/campaigns/{second}/prospects/csv", files=csv)
    allowed = await api.client.post(
        f"/campaigns/{second}/prospects/csv", params={"allow_recontact": "true"}, files=csv
    )

    assert refused.status_code == 409 and "ended Replied" in refused.text
    assert allowed.status_code == 201, allowed.text
    view = (await api.client.get(f"/campaigns/{second}")).json()
    assert view["total_prospects"] == 1


async def test_the_last_sequence_decides(api: Api) -> None:
    replied, later, next_one = [await api.campaign(n) for n in ("Replied", "Later", "Next")]
    await api.add(replied)
    api.ended(replied, "Replied")
    assert (await api.add(later, "?allow_recontact=true")).status_code == 201
    api.ended(later, "Completed")  # written to again on purpose, and that sequence ran out

    assert (await api.add(next_one)).status_code == 201


async def test_a_stopped_prospect_can_be_added_or_moved_but_not_removed(api: Api) -> None:
    first, second, third = [await api.campaign(n) for n in ("First", "Second", "Third")]
    [ann] = (await api.add(first)).json()["prospect_ids"]
    api.ended(first, "Stopped")
    base = f"/campaigns/{first}/prospects/{ann}"

    added = await api.client.post(f"{base}/add-to-campaign", json={"campaign_id": second})
    moved = await api.client.post(
        f"{base}/add-to-campaign",
        json={"campaign_id": third, "move": True, "allow_other_active": True},  # in Second now
    )
    removed = await api.client.post(f"{base}/remove")
    skipped = await api.client.post(f"{base}/skip")
    finished = await api.client.post(f"{base}/mark-finished")

    assert moved.status_code == 201 and moved.json()["enrolled"] == 1, moved.text
    assert added.status_code == 201 and added.json()["enrolled"] == 1, added.text
    for refused in (removed, skipped, finished):
        assert refused.status_code == 409, refused.text
        assert "the sequence has already ended (Stopped)" in refused.text
    # The move had nothing left to remove: Ann's ended sequence stays in the history.
    assert (await api.client.get(base)).json()["status"] == "Stopped"


async def test_add_to_campaign_refuses_someone_who_replied_unless_allowed(api: Api) -> None:
    first, second = await api.campaign("First"), await api.campaign("Second")
    [ann] = (await api.add(first)).json()["prospect_ids"]
    api.ended(first, "Replied")
    adding = f"/campaigns/{first}/prospects/{ann}/add-to-campaign"

    refused = await api.client.post(adding, json={"campaign_id": second})
    allowed = await api.client.post(adding, json={"campaign_id": second, "allow_recontact": True})

    assert refused.status_code == 409 and f"ended Replied in campaign {first}" in refused.text
    assert allowed.status_code == 201, allowed.text
