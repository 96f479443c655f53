"""Prospects' phone numbers through the API: stored in E.164 in relevance order, shown on
the prospect and in the export; a bad number is named and nothing is stored."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.accounts.members import create_workspace
from outbound.api.app import create_app
from outbound.settings import Settings
from outbound.store.tables import ProspectPhone
from tests.api.test_bad_input import make_campaign, problems

NEW_YORK = "+12125550123"
LONDON = "+442079460123"
PARIS = "+33142685300"


def stored_phones(engine: Engine) -> list[tuple[int, int, str, str]]:
    """(prospect, position, number, type) of every stored number, in every workspace."""
    with Session(engine) as session:
        rows = session.exec(
            select(ProspectPhone).order_by(
                col(ProspectPhone.prospect_id), col(ProspectPhone.position)
            )
        )
        return [(r.prospect_id, r.position, r.number, r.type) for r in rows]


async def shown_phones(
    api: httpx.AsyncClient, campaign_id: int, prospect_id: int
) -> list[dict[str, Any]]:
    """The numbers the prospect's view in the campaign shows."""
    answer = await api.get(f"/campaigns/{campaign_id}/prospects/{prospect_id}")
    assert answer.status_code == 200, answer.text
    phones: list[dict[str, Any]] = answer.json()["phones"]
    return phones


def one_with(number: str) -> list[dict[str, Any]]:
    """A JSON body of one prospect with one number."""
    return [{"addresses": [{"address": "ann@example.com"}], "phones": [{"number": number}]}]


@asynccontextmanager
async def workspace_client(
    engine: Engine, name: str, **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    """The management API of a new workspace, on the same store, with these settings."""
    _, key = create_workspace(engine, name, f"admin@{name}.example", name)
    app = create_app(
        Settings(database_url=str(engine.url), **settings),  # type: ignore[arg-type]
        engine=engine,
        temporal=None,  # type: ignore[arg-type]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client


async def test_json_numbers_are_stored_in_e164_in_the_order_given(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_campaign(api)
    body = [
        {
            "first_name": "Ann",
            "addresses": [{"address": "ann@example.com"}],
            "phones": [
                {"number": "(212) 555-0123", "type": "work"},  # read in the default region, US
                {"number": "+44 20 7946 0123"},
                {"number": "+33 1 42 68 53 00", "type": "other"},
            ],
        },
        {"first_name": "Bob", "addresses": [{"address": "bob@example.com"}]},
    ]

    answer = await api.post(f"/campaigns/{campaign_id}/prospects", json=body)

    assert answer.status_code == 201, answer.text
    ann, bob = answer.json()["prospect_ids"]
    assert await shown_phones(api, campaign_id, ann) == [
        {"number": NEW_YORK, "type": "work", "position": 1},
        {"number": LONDON, "type": "mobile", "position": 2},
        {"number": PARIS, "type": "other", "position": 3},
    ]
    assert await shown_phones(api, campaign_id, bob) == []
    assert stored_phones(api_engine) == [
        (ann, 1, NEW_YORK, "work"),
        (ann, 2, LONDON, "mobile"),
        (ann, 3, PARIS, "other"),
    ]


async def test_a_bad_json_number_is_named_and_nothing_is_stored(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_campaign(api)
    body = [
        {"addresses": [{"address": "ann@example.com"}], "phones": [{"number": NEW_YORK}]},
        {
            "addresses": [{"address": "bob@example.com"}],
            "phones": [{"number": "+1 212 555"}, {"number": "ask the front desk"}],
        },
        {"addresses": [{"address": "cem@example.com"}], "phones": [{"number": "1", "type": "x"}]},
    ]

    answer = await api.post(f"/campaigns/{campaign_id}/prospects", json=body)

    assert answer.status_code == 422
    found = problems(answer)
    assert "not a valid phone number" in found["[1].phones[0].number"]
    assert "+14155550123" in found["[1].phones[0].number"]
    assert "no letters" in found["[1].phones[1].number"]
    assert "'mobile', 'work' or 'other'" in found["[2].phones[0].type"]
    assert "ask the front desk" not in answer.text  # the one error shape never echoes input
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["total_prospects"] == 0
    assert stored_phones(api_engine) == []


async def test_csv_phone_columns_are_stored_and_the_export_shows_the_first_number(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    text = (
        "first_name,email,work_phone,phone\n"
        "Ann,ann@example.com,+44 20 7946 0123,(212) 555-0123; +33142685300\n"
        "Bob,bob@example.com,,\n"
    )

    answer = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", text, "text/csv")}
    )

    assert answer.status_code == 201, answer.text
    ann, _ = answer.json()["prospect_ids"]
    assert [(p["number"], p["type"]) for p in await shown_phones(api, campaign_id, ann)] == [
        (LONDON, "work"),
        (NEW_YORK, "mobile"),
        (PARIS, "mobile"),
    ]
    exported = await api.get(f"/campaigns/{campaign_id}/export.csv")
    rows = {r["first_name"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert rows["Ann"]["phone"] == f"'{LONDON}"  # text in a spreadsheet, + kept
    assert rows["Bob"]["phone"] == ""


async def test_a_bad_csv_number_names_its_row_and_column_and_nothing_is_stored(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_campaign(api)
    text = (
        "first_name,email,mobile_phone,work_phone\n"
        "Ann,ann@example.com,+12125550123,\n"
        "Bob,bob@example.com,,+1 212 555 01\n"
    )

    answer = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", text, "text/csv")}
    )

    assert answer.status_code == 422
    assert "not a valid phone number" in problems(answer)["row 3: work_phone"]
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["total_prospects"] == 0
    assert stored_phones(api_engine) == []


async def test_the_default_region_setting_reads_numbers_without_a_plus(
    api_engine: Engine,
) -> None:
    async with workspace_client(api_engine, "uk", default_phone_region="GB") as uk:
        campaign_id = await make_campaign(uk)
        added = await uk.post(f"/campaigns/{campaign_id}/prospects", json=one_with("020 7946 0123"))
        assert added.status_code == 201, added.text
        [london] = added.json()["prospect_ids"]
        assert (await shown_phones(uk, campaign_id, london))[0]["number"] == LONDON
    async with workspace_client(api_engine, "anywhere", default_phone_region=None) as anywhere:
        campaign_id = await make_campaign(anywhere)
        refused = await anywhere.post(
            f"/campaigns/{campaign_id}/prospects", json=one_with("(212) 555-0123")
        )
        assert "needs its country code" in problems(refused)["[0].phones[0].number"]


async def test_another_workspace_never_sees_the_numbers(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    campaign_id = await make_campaign(api)
    [ann] = (await api.post(f"/campaigns/{campaign_id}/prospects", json=one_with(NEW_YORK))).json()[
        "prospect_ids"
    ]

    async with workspace_client(api_engine, "other") as other:
        theirs = await make_campaign(other)
        again = [{"addresses": [{"address": "ann@example.com"}]}]  # the same person, unrelated
        [their_ann] = (await other.post(f"/campaigns/{theirs}/prospects", json=again)).json()[
            "prospect_ids"
        ]
        seen = [
            await other.get(f"/campaigns/{campaign_id}/prospects/{ann}"),
            await other.get(f"/campaigns/{theirs}/prospects/{their_ann}"),
            await other.get(f"/campaigns/{theirs}/export.csv"),
        ]

    assert seen[0].status_code == 404
    assert their_ann != ann and seen[1].json()["phones"] == []
    assert all(NEW_YORK not in answer.text for answer in seen)
