"""Through the API: mailbox settings cannot make the server connect inside its own network,
and the answers of the login checks are a few fixed reasons, rate-limited per workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outbound.api.in_process import in_process_clients
from outbound.devstack.dns import Zone, dns_server
from outbound.mail.check_rate import CHECKS
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from tests.api.test_bad_input import MAILBOX, STEP, problems
from tests.support.connects import tcp_connects as tcp_connects
from tests.support.factories import CONSENT

REFUSED = "the host resolves to a loopback, private, link-local or reserved address"


@pytest.fixture
async def strict_api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: private hosts and other ports refused; names answered by a DNS
    server on loopback (``*.corp.example`` point inside, ``mail.example.net`` outside)."""
    zone = Zone()
    zone.add("smtp.corp.example", "A", "10.0.0.25")
    zone.add("imap.corp.example", "A", "169.254.10.1")
    zone.add("me.corp.example", "A", "127.0.0.1")
    async with dns_server(zone) as port:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/api.db",
            allow_private_mail_hosts=False,
            allow_any_mail_port=False,
            dns_nameservers=["127.0.0.1"],
            dns_port=port,
            dns_timeout_seconds=1,
        )
        engine = make_engine(settings.database_url)
        upgrade_schema(engine)
        async with in_process_clients(settings, engine, None) as clients:
            yield clients.api
        engine.dispose()


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"smtp_host": "10.1.2.3"}, "smtp_host", REFUSED),
        ({"smtp_host": "127.0.0.1"}, "smtp_host", REFUSED),
        ({"smtp_host": "169.254.169.254"}, "smtp_host", REFUSED),
        ({"smtp_port": 22}, "smtp_port", "port 22 is not a mail port"),
        ({"smtp_port": 6379}, "smtp_port", "port 6379 is not a mail port"),
    ],
)
async def test_a_mailbox_on_an_inside_address_or_another_port_is_refused_at_create_time(
    strict_api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    answer = await strict_api.post("/mailboxes", json={**MAILBOX, **change})

    assert answer.status_code == 422
    assert reason in problems(answer)[field]
    assert (await strict_api.get("/mailboxes")).json() == []


async def mailbox_on(api: httpx.AsyncClient, host: str) -> int:
    answer = await api.post("/mailboxes", json={**MAILBOX, "smtp_host": host})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_names_that_point_inside_are_refused_by_every_login_check_before_connecting(
    strict_api: httpx.AsyncClient, tcp_connects: list[object]
) -> None:
    mailbox_id = await mailbox_on(strict_api, "smtp.corp.example")  # a name: checked later
    campaign = await strict_api.post(
        "/campaigns", json={"name": "Hiring", "mailbox_id": mailbox_id, "steps": [STEP]}
    )
    campaign_id = campaign.json()["id"]
    await strict_api.post(
        f"/campaigns/{campaign_id}/prospects",
        json=[{"first_name": "Ann", "addresses": [{"address": "ann@example.org"}]}],
    )

    reconnect = await strict_api.post(f"/mailboxes/{mailbox_id}/reconnect", json={})
    imap = await strict_api.put(
        f"/mailboxes/{mailbox_id}/imap",
        json={"host": "imap.corp.example", "username": "ada", "password": "pw"},
    )
    loopback = await strict_api.put(
        f"/mailboxes/{mailbox_id}/imap",
        json={"host": "me.corp.example", "username": "ada", "password": "pw"},
    )
    start = await strict_api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert problems(reconnect) == {"smtp_host": REFUSED}
    assert problems(imap) == {"host": REFUSED} == problems(loopback)
    assert start.status_code == 409 and REFUSED in problems(start)["mailbox_id"]
    assert "10.0.0.25" not in start.text + reconnect.text
    assert tcp_connects == []
    assert (await strict_api.get(f"/campaigns/{campaign_id}")).json()["campaign"][
        "status"
    ] != "InProgress"


async def test_login_checks_are_rate_limited_per_workspace(
    strict_api: httpx.AsyncClient, tcp_connects: list[object]
) -> None:
    first = await mailbox_on(strict_api, "smtp.corp.example")
    second = await mailbox_on(strict_api, "smtp.corp.example")

    answers = [
        await strict_api.post(f"/mailboxes/{first}/reconnect", json={}) for _ in range(CHECKS + 1)
    ]
    other = await strict_api.post(f"/mailboxes/{second}/reconnect", json={})

    assert [a.status_code for a in answers] == [422] * CHECKS + [429]
    assert "too many connection checks" in problems(answers[-1])["mailbox_id"]
    assert other.status_code == 429  # the workspace's mailboxes share one count
