"""SMS senders over the API: the token write-only and encrypted, bounded input, members and
workspaces kept apart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from outbound.accounts.members import create_workspace
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.sms_senders import sender_credentials
from outbound.store.tables import SmsSender
from tests.api.test_members import member_client

TOKEN = "tok-0123456789abcdef-secret"
SENDER: dict[str, Any] = {
    "name": "Recruiting line",
    "account_sid": "AC" + "0" * 32,
    "auth_token": TOKEN,
    "from_number": "+1 415 555 0100",
    "time_zone": "America/Los_Angeles",
    "per_second": 2.5,
}
SERVICE = "MG" + "1" * 32


async def test_the_token_is_stored_encrypted_and_never_answered(
    api: httpx.AsyncClient, api_engine: Engine, api_settings: Settings
) -> None:
    made = await api.post("/sms-senders", json=SENDER)
    assert made.status_code == 201, made.text
    sender_id = made.json()["id"]
    answers = [
        made,
        await api.get("/sms-senders"),
        await api.get(f"/sms-senders/{sender_id}"),
        await api.patch(f"/sms-senders/{sender_id}", json={"auth_token": TOKEN + "-new"}),
    ]

    assert all(a.status_code in (200, 201) for a in answers)
    assert not [a for a in answers if TOKEN in a.text]
    shown = answers[2].json()
    assert shown["has_auth_token"] is True and "auth_token" not in shown
    assert (shown["from_number"], shown["per_second"], shown["send_days"][0]) == (
        "+14155550100",
        2.5,
        "mon",
    )
    keyring = Keyring.from_settings(api_settings)
    with Session(api_engine) as session:
        row = session.exec(select(SmsSender)).one()
        assert TOKEN not in row.auth_token_encrypted
        assert keyring.decrypt(row.auth_token_encrypted) == TOKEN + "-new"
        assert TOKEN not in repr(row)
    credentials = sender_credentials(api_engine, keyring, sender_id)
    assert credentials == ("AC" + "0" * 32, TOKEN + "-new", "+14155550100", None)
    assert TOKEN not in repr(credentials) and TOKEN not in str(credentials)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from_number": "+1 555"}, "from_number"),
        ({"from_number": "4155550100"}, "from_number"),
        ({"from_number": "+1" + "5" * 40}, "from_number"),
        ({"messaging_service_sid": SERVICE}, "from_number"),  # both
        ({"from_number": None}, "from_number"),  # neither
        ({"messaging_service_sid": "MG-not-a-sid", "from_number": None}, "messaging_service_sid"),
        ({"account_sid": "not-a-sid"}, "account_sid"),
        ({"auth_token": ""}, "auth_token"),
        ({"auth_token": "x" * 129}, "auth_token"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"per_second": 0}, "per_second"),
        ({"per_second": 101}, "per_second"),
        ({"daily_limit": 0}, "daily_limit"),
        ({"daily_limit": 100_001}, "daily_limit"),
        ({"help_text": "h" * 321}, "help_text"),
        ({"name": "x" * 201}, "name"),
        ({"send_start": "18:00", "send_end": "09:00"}, "send_end"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_without_the_token(
    api: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    answer = await api.post("/sms-senders", json={**SENDER, **changes})

    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["detail"]] == [field]
    assert TOKEN not in answer.text


async def test_a_change_keeps_exactly_one_origin_and_no_required_field_is_removed(
    api: httpx.AsyncClient,
) -> None:
    sender_id = (await api.post("/sms-senders", json=SENDER)).json()["id"]
    path = f"/sms-senders/{sender_id}"

    both = await api.patch(path, json={"messaging_service_sid": SERVICE})
    moved = await api.patch(path, json={"messaging_service_sid": SERVICE, "from_number": None})
    nameless = await api.patch(path, json={"name": None})
    closed = await api.patch(path, json={"send_start": "18:00"})

    assert (both.status_code, both.json()["detail"][0]["field"]) == (422, "from_number")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["from_number"], moved.json()["messaging_service_sid"]) == (None, SERVICE)
    assert (nameless.status_code, nameless.json()["detail"][0]["field"]) == (422, "name")
    assert (closed.status_code, closed.json()["detail"][0]["field"]) == (422, "send_end")
    assert (await api.get(path)).json()["send_start"] == "09:00"


async def test_new_credentials_clear_a_parked_sender(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    sender_id = (await api.post("/sms-senders", json=SENDER)).json()["id"]
    with Session(api_engine) as session:
        row = session.get_one(SmsSender, sender_id)
        row.connection_state, row.connection_problem = "needs_reauth", "20003 Authenticate"
        session.add(row)
        session.commit()

    limits_only = await api.patch(f"/sms-senders/{sender_id}", json={"daily_limit": 10})
    new_token = await api.patch(f"/sms-senders/{sender_id}", json={"auth_token": "fresh"})

    assert limits_only.json()["connection_state"] == "needs_reauth"
    assert (new_token.json()["connection_state"], new_token.json()["connection_problem"]) == (
        "connected",
        None,
    )


async def test_a_member_sees_and_uses_only_senders_shared_with_them(
    api: httpx.AsyncClient,
) -> None:
    shared = (await api.post("/sms-senders", json=SENDER)).json()["id"]
    other = (await api.post("/sms-senders", json={**SENDER, "name": "Other"})).json()["id"]
    sam_id, sam = await member_client(api, "sam@example.com")

    before = await sam.get("/sms-senders")
    granted = await api.post(f"/sms-senders/{shared}/grants", json={"user_id": sam_id})
    again = await api.post(f"/sms-senders/{shared}/grants", json={"user_id": sam_id})
    after = await sam.get("/sms-senders")

    assert before.json() == []
    assert granted.status_code == 201 and granted.json()["sender_id"] == shared
    assert again.status_code == 409
    assert [s["id"] for s in after.json()] == [shared]
    assert (await sam.get(f"/sms-senders/{shared}")).status_code == 200
    assert (await sam.get(f"/sms-senders/{other}")).status_code == 404
    assert (await sam.post("/sms-senders", json=SENDER)).status_code == 403
    assert (await sam.patch(f"/sms-senders/{shared}", json={"name": "x"})).status_code == 403
    listed = await api.get(f"/sms-senders/{shared}/grants")
    assert [g["user_id"] for g in listed.json()] == [sam_id]

    assert (await api.delete(f"/sms-senders/{shared}/grants/{sam_id}")).status_code == 200
    assert (await sam.get(f"/sms-senders/{shared}")).status_code == 404
    assert (await api.delete(f"/sms-senders/{shared}/grants/{sam_id}")).status_code == 404
    await sam.aclose()


async def test_another_workspace_s_sender_answers_like_a_missing_one(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    theirs = (await api.post("/sms-senders", json=SENDER)).json()["id"]
    _, key = create_workspace(api_engine, "elsewhere", "bea@example.org", "Bea")
    async with httpx.AsyncClient(
        transport=api._transport,
        base_url=str(api.base_url),
        headers={"Authorization": f"Bearer {key}"},
    ) as other:
        answers = {
            "get": await other.get(f"/sms-senders/{theirs}"),
            "patch": await other.patch(f"/sms-senders/{theirs}", json={"name": "mine"}),
            "delete": await other.delete(f"/sms-senders/{theirs}"),
            "grants": await other.get(f"/sms-senders/{theirs}/grants"),
            "missing": await other.get("/sms-senders/999999"),
        }
        listed = await other.get("/sms-senders")

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 404)
    assert answers["get"].json() == {
        "detail": [{"field": "sms_sender_id", "reason": f"sms_sender {theirs} not found"}]
    }
    assert listed.json() == []
    assert (await api.get(f"/sms-senders/{theirs}")).json()["name"] == "Recruiting line"


async def test_a_deleted_sender_is_gone_with_its_grants(api: httpx.AsyncClient) -> None:
    sender_id = (await api.post("/sms-senders", json=SENDER)).json()["id"]
    sam_id, sam = await member_client(api, "sam@example.com")
    await api.post(f"/sms-senders/{sender_id}/grants", json={"user_id": sam_id})

    deleted = await api.delete(f"/sms-senders/{sender_id}")

    assert deleted.status_code == 200 and deleted.json()["id"] == sender_id
    assert (await api.get(f"/sms-senders/{sender_id}")).status_code == 404
    assert (await sam.get("/sms-senders")).json() == []
    await sam.aclose()
