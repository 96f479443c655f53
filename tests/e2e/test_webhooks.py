"""Outgoing webhooks end to end: a campaign runs while a real HTTP receiver on loopback is
subscribed; it fails for a while (500s, then timeouts) and still gets every event, each
signed, each once under one id, in order per prospect. Private addresses are refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import create_mailbox
from tests.e2e.test_tracking_and_metrics import pixel_path, received
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

FAILING_500 = 3  # the receiver's first answers
TIMING_OUT = 2  # then it hangs past the timeout this many times


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {
        "webhook_allow_loopback": True,
        "webhook_timeout_seconds": 0.5,
        "webhook_retry_initial_seconds": 0.2,
        "webhook_retry_max_interval_seconds": 1.0,
    }


@dataclass
class Receiver:
    port: int = 0
    calls: int = 0
    accepted: list[tuple[dict[str, str], str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.text()
        if self.calls <= FAILING_500:
            return web.Response(status=500)
        if self.calls <= FAILING_500 + TIMING_OUT:
            await asyncio.sleep(1.5)
            return web.Response(status=200)
        self.accepted.append((dict(request.headers), body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


async def test_every_event_arrives_signed_once_and_in_order_despite_failures(
    stack: Stack, receiver: Receiver
) -> None:
    stack.dns.add("hooks.receiver.example", "A", "127.0.0.1")
    created = await stack.api.post(
        "/webhooks",
        json={
            "url": f"http://hooks.receiver.example:{receiver.port}/hooks",
            "events": [
                "message.sent",
                "message.opened",
                "prospect.completed",
                "campaign.completed",
            ],
        },
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    webhook_id = created.json()["id"]
    shown = await stack.api.get(f"/webhooks/{webhook_id}")
    assert "secret" not in shown.json() and secret not in shown.text

    mailbox_id = await create_mailbox(stack)
    campaign = await stack.api.post(
        "/campaigns",
        json={
            "name": "Hooked",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "track_opens": True,
            "steps": [
                {"subject": "A role at {{ company }}", "body": "Hi {{ first_name }}."},
                {"subject": "Following up", "body": "Still open."},
            ],
        },
    )
    campaign_id = campaign.json()["id"]
    people = [
        {
            "first_name": "Ann",
            "company": "Acme",
            "addresses": [{"address": "ann@acme.example.com"}],
        },
        {
            "first_name": "Bob",
            "company": "Bolt",
            "addresses": [{"address": "bob@bolt.example.com"}],
        },
    ]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def all_sent() -> bool:
        return len(stack.sink.received) == 4

    await eventually(all_sent)
    opened = received(stack, "ann@acme.example.com", "A role")
    assert (await stack.public.get(pixel_path(stack, opened))).status_code == 200

    # 4 sends, 1 open, 2 prospects completed, the campaign completed
    async def all_arrived() -> bool:
        return len({headers["webhook-id"] for headers, _ in receiver.accepted}) == 8

    await eventually(all_arrived, seconds=45)
    assert receiver.calls > FAILING_500 + TIMING_OUT  # the failures really happened

    verifier = Webhook(secret)
    ids_by_what: dict[tuple[Any, ...], set[str]] = {}
    per_prospect: dict[int, list[str]] = {}
    for headers, body in receiver.accepted:
        event = verifier.verify(body, headers)  # raises unless the signature is right
        assert event["id"] == headers["webhook-id"] and event["version"] == 1
        data = event["data"]
        what = (event["type"], data.get("enrollment_id"), data.get("step"))
        ids_by_what.setdefault(what, set()).add(event["id"])
        if "enrollment_id" in data and event["type"] != "message.opened":
            per_prospect.setdefault(data["enrollment_id"], []).append(
                f"{event['type']}:{data.get('step')}"
            )
    assert all(len(ids) == 1 for ids in ids_by_what.values()), ids_by_what
    assert sorted(what[0] for what in ids_by_what) == sorted(
        ["message.sent"] * 4
        + ["message.opened", "prospect.completed", "prospect.completed", "campaign.completed"]
    )
    for order in per_prospect.values():  # first arrival of each, in order
        firsts = list(dict.fromkeys(order))
        assert firsts == ["message.sent:1", "message.sent:2", "prospect.completed:None"]

    log = (await stack.api.get(f"/webhooks/{webhook_id}/deliveries")).json()
    assert len(log) == 8
    assert {row["status"] for row in log} == {"delivered"}
    assert max(row["attempts"] for row in log) > 1  # late, after failed attempts
    assert {row["status_code"] for row in log} <= {204}

    # redeliver: the same event again, under the same id
    before = len(receiver.accepted)
    again = await stack.api.post(f"/webhooks/{webhook_id}/deliveries/{log[-1]['id']}/redeliver")
    assert again.status_code == 202, again.text

    async def redelivered() -> bool:
        return len(receiver.accepted) > before

    await eventually(redelivered)
    assert receiver.accepted[-1][0]["webhook-id"] == log[-1]["event_id"]


async def test_private_addresses_are_refused_at_create_and_at_delivery(
    stack: Stack, receiver: Receiver
) -> None:
    stack.dns.add("crm.internal.example", "A", "10.1.2.3")
    stack.dns.add("linklocal.example", "A", "169.254.169.254")
    for url in (
        "http://crm.internal.example/hooks",
        "http://linklocal.example/latest/meta-data",
        "http://192.168.1.10/hooks",
        "ftp://hooks.example.com/x",
    ):
        refused = await stack.api.post("/webhooks", json={"url": url, "events": ["message.sent"]})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"].endswith("url"), refused.text
    assert (await stack.api.get("/webhooks")).json() == []

    # Allowed at create (loopback is allowed here), then the name moves inside the network:
    # every delivery is refused before connecting.
    stack.dns.add("moving.example", "A", "127.0.0.1")
    created = await stack.api.post(
        "/webhooks",
        json={"url": f"http://moving.example:{receiver.port}/hooks", "events": ["message.sent"]},
    )
    assert created.status_code == 201, created.text
    stack.dns.records[("moving.example.", "A")] = ["10.9.9.9"]
    mailbox_id = await create_mailbox(stack)
    campaign = await stack.api.post(
        "/campaigns",
        json={
            "name": "Moved",
            "mailbox_id": mailbox_id,
            "grace_seconds": 1,
            "steps": [{"subject": "Hello", "body": "Hi."}],
        },
    )
    campaign_id = campaign.json()["id"]
    one = [{"first_name": "Ann", "addresses": [{"address": "ann@acme.example.com"}]}]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=one)).is_success
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    webhook_id = created.json()["id"]

    async def refused_twice() -> bool:
        log = (await stack.api.get(f"/webhooks/{webhook_id}/deliveries")).json()
        return bool(log) and log[0]["attempts"] >= 2

    await eventually(refused_twice)
    (row,) = (await stack.api.get(f"/webhooks/{webhook_id}/deliveries")).json()
    assert row["status"] == "pending" and row["status_code"] is None
    assert re.match(r"refused: .*private", row["error"])
    assert receiver.calls == 0  # nothing connected anywhere
    body = json.dumps(row)
    assert "whsec_" not in body
