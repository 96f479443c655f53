"""Tenant isolation, swept over every route the management app has.

The routes come from the app itself (``iter_route_contexts``), so a route added
later is swept without editing this file; a new route that takes a body needs
a sample body below, and the test says so. Two workspaces, A with data of
every kind and B. With A's ids:

* B's admin gets 404 on every route whose path names one of A's objects, and
  a 4xx on every route whose body does; no answer to B carries A's data; and
  every row A had is unchanged, byte for byte;
* no key, a malformed key and a revoked key get 401 on every route but
  ``/healthz``;
* A's member gets 403 on every admin's route, and 404 on A's objects that are
  not theirs (the admin's campaigns, mailboxes and SMS senders not shared with them).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine, MetaData, select
from sqlmodel import Session

from outbound.accounts.members import create_workspace
from outbound.api.app import create_app
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import InboundEvent, WebhookDelivery, WebhookEvent
from tests.support.factories import CONSENT

PUBLIC = {"/healthz", "/readyz", "/metrics"}  # say nothing about any workspace
# Routes whose proof is not an API key but something of their own, tested with it:
# the OAuth callback's signed, single-use state (tests/api/test_mailbox_oauth.py).
OWN_PROOF = {"/mailboxes/oauth/callback"}
# Path parameters that name no object of a workspace.
NOT_OBJECTS = {"provider"}
# Routes without ids in their path whose sample body names one of A's objects.
BODY_NAMES_A = {
    ("POST", "/keys"),
    ("POST", "/campaigns"),
    ("POST", "/suppressions/remove"),
    ("POST", "/mailboxes/oauth/{provider}/start"),
}
# What would show that B saw A's data.
A_MARKERS = (
    "alice@a-corp.example",
    "A-secret-campaign",
    "prospect@a-only.example",
    "gone@a-only.example",
    "admin@a-corp.example",
    "member@a-corp.example",
    "+12125550147",
    "A-secret-sender",
    "a-secret-hooks",
)
A_SENDER = {
    "name": "A-secret-sender",
    "account_sid": "AC" + "a" * 32,
    "auth_token": "a-auth-token",
    "from_number": "+14155550100",
}


@dataclass
class Ids:
    """A's objects."""

    mailbox: int
    campaign: int
    other_campaign: int
    prospect: int
    admin: int
    member: int
    member_key: int
    event: int
    sender: int
    webhook: int = 0
    delivery: int = 0


@dataclass
class World:
    app: FastAPI
    engine: Engine
    a_admin: httpx.AsyncClient
    a_member: httpx.AsyncClient
    b_admin: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    revoked: httpx.AsyncClient
    malformed: httpx.AsyncClient
    a: Ids


def sample_bodies(a: Ids) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body for each route that needs one (``json``, or ``files``), naming A's
    objects wherever a body names an object."""
    mailbox = {
        "smtp_host": "smtp.b-corp.example",
        "from_address": "bea@b-corp.example",
        "password": "b-password",
    }
    return {
        ("POST", "/users"): {"json": {"email": "new@b-corp.example"}},
        ("PATCH", "/users/{user_id}"): {"json": {"role": "member"}},
        ("POST", "/keys"): {"json": {"name": "x", "user_id": a.admin}},
        ("POST", "/webhooks"): {
            "json": {"url": "http://93.184.215.14/h", "events": ["message.sent"]}
        },
        ("PATCH", "/webhooks/{webhook_id}"): {"json": {"description": "b's"}},
        ("POST", "/mailboxes"): {"json": mailbox},
        ("POST", "/mailboxes/{mailbox_id}/reconnect"): {"json": {}},
        ("POST", "/mailboxes/oauth/{provider}/start"): {"json": {"mailbox_id": a.mailbox}},
        ("POST", "/mailboxes/{mailbox_id}/grants"): {"json": {"user_id": a.member}},
        ("PUT", "/mailboxes/{mailbox_id}/imap"): {
            "json": {"host": "imap.example.com", "username": "u", "password": "p"}
        },
        ("POST", "/campaigns"): {
            "json": {
                "name": "B's",
                "mailbox_id": a.mailbox,
                "steps": [{"subject": "s", "body": "b"}],
            }
        },
        ("PUT", "/campaigns/{campaign_id}/tracking"): {
            "json": {"track_opens": True, "track_clicks": True}
        },
        ("POST", "/campaigns/{campaign_id}/prospects"): {
            "json": [{"first_name": "X", "addresses": [{"address": "x@b-corp.example"}]}]
        },
        ("POST", "/campaigns/{campaign_id}/prospects/csv"): {
            "files": {"file": ("p.csv", b"first_name,email\nX,x@b-corp.example\n", "text/csv")}
        },
        ("POST", "/campaigns/{campaign_id}/start"): {"json": CONSENT},
        ("POST", "/campaigns/{campaign_id}/steps"): {"json": {"subject": "s", "body": "b"}},
        ("PATCH", "/campaigns/{campaign_id}/steps/{position}"): {"json": {"subject": "t"}},
        ("POST", "/campaigns/{campaign_id}/prospects/{prospect_id}/add-to-campaign"): {
            "json": {"campaign_id": a.other_campaign}
        },
        ("PUT", "/campaigns/{campaign_id}/prospects/{prospect_id}/address"): {
            "json": {"address": "new@a-only.example"}
        },
        ("POST", "/campaigns/{campaign_id}/bulk"): {
            "json": {"action": "pause", "prospect_ids": [a.prospect]}
        },
        ("POST", "/campaigns/{campaign_id}/retry"): {"json": {}},
        ("POST", "/suppressions"): {"json": {"address": "listed@b-corp.example", "reason": "x"}},
        ("POST", "/sms-senders"): {
            "json": {
                "name": "B's line",
                "account_sid": "AC" + "b" * 32,
                "auth_token": "b-auth-token",
                "from_number": "+14155550101",
            }
        },
        ("PATCH", "/sms-senders/{sms_sender_id}"): {"json": {"daily_limit": 5}},
        ("POST", "/sms-senders/{sms_sender_id}/grants"): {"json": {"user_id": a.member}},
        ("PUT", "/workspace/sms-quiet-hours"): {  # B's own hours, as they are
            "json": {"sms_quiet_start": "08:00", "sms_quiet_end": "21:00"}
        },
        ("PUT", "/workspace/sending-rules"): {  # B's own rules, as they are
            "json": {
                "domain_cap": {"hourly": 1_000_000, "daily": 1_000_000},
                "domain_caps": {},
                "recontact_cooldown_days": 0,
            }
        },
        ("PUT", "/mailboxes/{mailbox_id}/warmup"): {"json": {"start": 10, "increment": 5}},
        ("PUT", "/mailboxes/{mailbox_id}/days-off"): {"json": {"blackout_dates": ["2030-01-02"]}},
        ("PUT", "/campaigns/{campaign_id}/days-off"): {"json": {"holiday_calendar": "US"}},
        ("PUT", "/campaigns/{campaign_id}/company-rules"): {"json": {"company_rule": "stop"}},
        ("POST", "/suppressions/remove"): {
            "json": {"address": "gone@a-only.example", "reason": "x"}
        },
    }


def path_values(a: Ids) -> dict[str, int | str]:
    return {
        "mailbox_id": a.mailbox,
        "campaign_id": a.campaign,
        "prospect_id": a.prospect,
        "user_id": a.member,
        "key_id": a.member_key,
        "event_id": a.event,
        "sms_sender_id": a.sender,
        "webhook_id": a.webhook,
        "delivery_id": a.delivery,
        "position": 1,
        "name": "a.eml",
        "provider": "google",
    }


def routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every API route of the app."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = str(context.path_format)
            found += [(method, path, route) for method in sorted(route.methods)]
    assert len(found) > 50, "the sweep found the app's routes"
    return found


def names_object(path: str) -> bool:
    """Whether the path names an object of a workspace (by id, position or name)."""
    return any(name not in NOT_OBJECTS for name in re.findall(r"\{(\w+)\}", path))


def is_admin_only(route: APIRoute) -> bool:
    from outbound.api.auth import require_admin

    return any(d.dependency is require_admin for d in route.dependencies)


async def call(client: httpx.AsyncClient, world: World, method: str, path: str) -> httpx.Response:
    values = path_values(world.a)
    url = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)
    body = sample_bodies(world.a).get((method, path), {})
    schema = world.app.openapi()["paths"][path][method.lower()]
    if schema.get("requestBody", {}).get("required") and not body:
        pytest.fail(f"{method} {path} takes a body: add a sample to sample_bodies()")
    return await client.request(method, url, **body)


def snapshot(engine: Engine) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every row of every table, by primary key; keys' last use and the audit log aside
    (every call writes them by design)."""
    meta = MetaData()
    meta.reflect(engine)
    rows: dict[str, dict[Any, tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            if table.name in ("auditentry", "alembic_version"):
                continue
            columns = [c for c in table.columns if c.name != "last_used_at"]
            key = [c.name for c in table.primary_key.columns]
            rows[table.name] = {
                tuple(row._mapping[k] for k in key): tuple(row)
                for row in connection.execute(select(*columns))
            }
    return rows


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/isolation.db",
        signing_secret="isolation-signing-secret",
        oauth_google={"client_id": "isolation-client", "client_secret": "isolation-secret"},
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    _, a_key = create_workspace(engine, "a-corp", "admin@a-corp.example", "Alice")
    _, b_key = create_workspace(engine, "b-corp", "admin@b-corp.example", "Bea")
    app = create_app(settings, engine=engine, temporal=None)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def client(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.AsyncClient(transport=transport, base_url="http://api.test", headers=headers)

    a_admin = client(a_key)
    ids = await seed_a(a_admin, engine)
    member = (await a_admin.post("/keys", json={"user_id": ids.member, "name": "m"})).json()
    ids.member_key = member["id"]
    b_admin = client(b_key)
    rules = sample_bodies(ids)[("PUT", "/workspace/sending-rules")]["json"]
    assert (await b_admin.put("/workspace/sending-rules", json=rules)).status_code == 200
    spare = (await b_admin.post("/keys", json={"name": "to revoke"})).json()
    assert (await b_admin.post(f"/keys/{spare['id']}/revoke")).status_code == 200
    clients = [client(member["key"]), b_admin, client(None), client(spare["key"])]
    clients.append(client("obk_000000000000_not-a-real-key"))
    yield World(app, engine, a_admin, *clients, ids)  # type: ignore[misc]
    for each in (a_admin, *clients):
        await each.aclose()
    engine.dispose()


async def seed_a(api: httpx.AsyncClient, engine: Engine) -> Ids:
    """A's data through A's admin: a mailbox, two campaigns (one with a prospect, who has a
    phone number), a suppression, an inbound secret, a member; and an inbound event with its
    bytes."""
    mailbox = await api.post(
        "/mailboxes",
        json={
            "smtp_host": "smtp.a-corp.example",
            "from_address": "alice@a-corp.example",
            "username": "alice",
            "password": "a-password",
        },
    )
    assert mailbox.status_code == 201, mailbox.text
    mailbox_id = mailbox.json()["id"]
    steps = [
        {"subject": "Hi {{ first_name }}", "body": "A role."},
        {"kind": "manual_task", "task": "Call"},
    ]
    campaigns = []
    for name in ("A-secret-campaign", "A-second"):
        made = await api.post(
            "/campaigns", json={"name": name, "mailbox_id": mailbox_id, "steps": steps}
        )
        assert made.status_code == 201, made.text
        campaigns.append(made.json()["id"])
    people = [
        {
            "first_name": "Pat",
            "addresses": [{"address": "prospect@a-only.example"}],
            "phones": [{"number": "+1 212 555 0147"}],
        }
    ]
    added = await api.post(f"/campaigns/{campaigns[0]}/prospects", json=people)
    assert added.status_code == 201, added.text
    listed = await api.post("/suppressions", json={"address": "gone@a-only.example", "reason": "x"})
    assert listed.status_code == 201, listed.text
    assert (await api.post(f"/mailboxes/{mailbox_id}/inbound-secret")).status_code == 201
    sender = await api.post("/sms-senders", json=A_SENDER)
    assert sender.status_code == 201, sender.text
    member = await api.post("/users", json={"email": "member@a-corp.example", "role": "member"})
    me = (await api.get("/me")).json()
    hook = await api.post(
        "/webhooks", json={"url": "http://93.184.215.14/a-secret-hooks", "events": ["message.sent"]}
    )
    assert hook.status_code == 201, hook.text
    webhook_id = hook.json()["id"]
    with Session(engine) as session:
        event = InboundEvent(
            mailbox_id=mailbox_id,
            dedup_key="k",
            source="webhook",
            kind="unrecognised_notice",
            raw=b"From: prospect@a-only.example\r\n\r\nsecret",
        )
        session.add(event)
        hook_event = WebhookEvent(
            workspace_id=me["workspace_id"],
            event_id="evt_a",
            dedup_key="a",
            type="message.sent",
            ordering_key="enrollment-1",
            payload="{}",
        )
        session.add(hook_event)
        session.flush()
        delivery = WebhookDelivery(
            workspace_id=me["workspace_id"],
            subscription_id=webhook_id,
            event_row_id=hook_event.id or 0,
            ordering_key="enrollment-1",
        )
        session.add(delivery)
        session.commit()
        event_id = event.id or 0
        delivery_id = delivery.id or 0
    return Ids(
        mailbox=mailbox_id,
        campaign=campaigns[0],
        other_campaign=campaigns[1],
        prospect=added.json()["prospect_ids"][0],
        admin=me["user_id"],
        member=member.json()["id"],
        member_key=0,
        event=event_id,
        sender=sender.json()["id"],
        webhook=webhook_id,
        delivery=delivery_id,
    )


async def test_another_workspace_s_ids_answer_like_missing_ones_and_change_nothing(
    world: World,
) -> None:
    before = snapshot(world.engine)
    wrong: list[str] = []
    for method, path, _ in routes(world.app):
        if path in PUBLIC | OWN_PROOF:
            continue
        answer = await call(world.b_admin, world, method, path)
        names_a = (method, path) in BODY_NAMES_A
        label = f"{method} {path} → {answer.status_code}"
        if names_object(path) and answer.status_code != 404:
            wrong.append(f"{label} (expected 404): {answer.text[:200]}")
        elif names_a and not 400 <= answer.status_code < 500:
            wrong.append(f"{label} (expected a 4xx): {answer.text[:200]}")
        elif answer.status_code >= 500:
            wrong.append(f"{label}: {answer.text[:200]}")
        sent = str(sample_bodies(world.a).get((method, path), ""))
        leaked = [m for m in A_MARKERS if m in answer.text and m not in sent]  # not an echo
        if leaked:
            wrong.append(f"{label} shows A's {leaked}")
    after = snapshot(world.engine)

    assert wrong == []
    for table, rows in before.items():
        changed = {key for key, row in rows.items() if after[table].get(key) != row}
        assert not changed, f"{table}: A's rows {sorted(changed)} changed"


async def test_no_key_a_malformed_key_and_a_revoked_key_are_401_everywhere(
    world: World,
) -> None:
    wrong = []
    for method, path, _ in routes(world.app):
        if path in PUBLIC | OWN_PROOF:
            continue
        for who, client in (
            ("no key", world.anonymous),
            ("revoked", world.revoked),
            ("malformed", world.malformed),
        ):
            answer = await call(client, world, method, path)
            if answer.status_code != 401 or answer.json()["detail"][0]["field"] != "authorization":
                wrong.append(f"{who}: {method} {path} → {answer.status_code}")
    assert wrong == []
    revoked = await world.revoked.get("/me")
    assert "has been revoked" in revoked.text and revoked.headers["www-authenticate"] == "Bearer"


async def test_a_member_manages_no_keys_users_or_mailboxes_and_sees_only_what_is_theirs(
    world: World,
) -> None:
    wrong = []
    for method, path, route in routes(world.app):
        if path in PUBLIC | OWN_PROOF:
            continue
        answer = await call(world.a_member, world, method, path)
        label = f"{method} {path} → {answer.status_code}"
        if is_admin_only(route):
            if answer.status_code != 403:
                wrong.append(f"{label} (admin's route: expected 403)")
        elif _names_their_object(path) and answer.status_code != 404:
            wrong.append(f"{label} (not theirs: expected 404)")
    assert wrong == []
    assert (await world.a_member.get("/mailboxes")).json() == []
    assert (await world.a_member.get("/campaigns")).json() == []
    assert (await world.a_member.get("/sms-senders")).json() == []


def _names_their_object(path: str) -> bool:
    """A path naming a campaign, mailbox or SMS sender (a member sees only theirs)."""
    return any(f"{{{name}}}" in path for name in ("campaign_id", "mailbox_id", "sms_sender_id"))
