"""Bad input gets a 4xx naming the field and the reason, never a 500, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.factories import CONSENT, consent_with

MAILBOX = {
    "smtp_host": "smtp.example.com",
    "smtp_port": 587,
    "tls_mode": "starttls",
    "username": "ada",
    "password": "hunter2-secret",
    "from_name": "Ada Recruiter",
    "from_address": "ada@example.com",
    "time_zone": "America/New_York",
}
STEP = {"subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }}"}


def problems(answer: httpx.Response) -> dict[str, str]:
    """field → reason of a 4xx answer."""
    assert 400 <= answer.status_code < 500, answer.text
    return {p["field"]: p["reason"] for p in answer.json()["detail"]}


async def make_mailbox(api: httpx.AsyncClient) -> int:
    answer = await api.post("/mailboxes", json=MAILBOX)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def make_campaign(api: httpx.AsyncClient, **overrides: Any) -> int:
    body = {"name": "Hiring", "mailbox_id": await make_mailbox(api), "steps": [STEP], **overrides}
    answer = await api.post("/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_the_mailbox_password_is_write_only(api: httpx.AsyncClient) -> None:
    created = await api.post("/mailboxes", json=MAILBOX)
    listed = await api.get("/mailboxes")
    shown = await api.get(f"/mailboxes/{created.json()['id']}")
    refused = await api.post("/mailboxes", json={**MAILBOX, "smtp_port": 0})

    for answer in (created, listed, shown, refused):
        assert "hunter2" not in answer.text
    assert shown.json()["has_password"] is True
    assert "smtp_port" in problems(refused)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"from_address": "ada-at-example.com"}, "from_address", "not a valid email address"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "unknown time zone"),
        ({"from_name": "Ada\r\nBcc: all@example.com"}, "from_name", "single line"),
        ({"from_name": "Ada\u0000Lovelace"}, "from_name", "control characters"),
        ({"tls_mode": "ssl3"}, "tls_mode", "Input should be"),
        ({"smtp_port": 70000}, "smtp_port", "less than or equal to 65535"),
        # Found by the bad-input drill: a name the resolver cannot encode was a 500.
        ({"smtp_host": "smtp\x86.example.com"}, "smtp_host", "not a host name"),
        ({"smtp_host": "smtp example.com"}, "smtp_host", "not a host name"),
    ],
)
async def test_bad_mailbox_fields_are_named(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    answer = await api.post("/mailboxes", json={**MAILBOX, **change})

    assert answer.status_code == 422
    assert reason in problems(answer)[field]
    assert (await api.get("/mailboxes")).json() == []


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"steps": []}, "steps", "at least 1 item"),
        (
            {"steps": [STEP, {**STEP, "delay_days": -1}]},
            "steps[1].delay_days",
            "greater than or equal to 0",
        ),
        (
            {"steps": [{**STEP, "subject": "Hi\r\nBcc: x@example.com"}]},
            "steps[0].subject",
            "single line",
        ),
        ({"steps": [{**STEP, "body": "Hi {{ first_name"}]}, "steps[0].body", "syntax error"),
        ({"steps": [{**STEP, "thread_mode": "same_thread"}]}, "steps", "no thread to reply in"),
        ({"mailbox_id": 999}, "mailbox_id", "mailbox 999 not found"),
        ({"grace_seconds": -5}, "grace_seconds", "greater than or equal to 0"),
        ({"name": ""}, "name", "at least 1 character"),
    ],
)
async def test_bad_campaign_fields_are_named(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    body = {"name": "Hiring", "mailbox_id": await make_mailbox(api), "steps": [STEP], **change}

    answer = await api.post("/campaigns", json=body)

    assert answer.status_code == 422
    assert reason in problems(answer)[field]
    assert (await api.get("/campaigns")).json() == []


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("GET", "/mailboxes/999", 404, "mailbox_id"),
        ("GET", "/campaigns/999", 404, "campaign_id"),
        ("POST", "/campaigns/999/prospects", 404, "campaign_id"),
        ("GET", "/campaigns/999/prospects/5", 404, "prospect_id"),
        ("POST", "/campaigns/999/prospects/5/pause", 404, "prospect_id"),
        ("GET", "/campaigns/abc", 422, "campaign_id"),
        # Found by the bad-input drill: ids past the database's integers were a 500.
        ("GET", f"/mailboxes/{2**70}", 422, "mailbox_id"),
    ],
)
async def test_unknown_ids_are_named(
    api: httpx.AsyncClient, method: str, path: str, status: int, field: str
) -> None:
    body = [{"addresses": [{"address": "a@example.com"}]}] if method == "POST" else None
    answer = await api.request(method, path, json=body)

    assert answer.status_code == status
    assert field in problems(answer)


async def test_start_of_an_unknown_campaign_is_404(api: httpx.AsyncClient) -> None:
    answer = await api.post("/campaigns/999/start", json=CONSENT)

    assert answer.status_code == 404
    assert "campaign 999 not found" in problems(answer)["campaign_id"]


async def test_start_needs_every_consent_statement_accepted(api: httpx.AsyncClient) -> None:
    campaign_id = await make_campaign(api)
    answer = await api.post(
        f"/campaigns/{campaign_id}/start", json=consent_with(lawful_content=False)
    )

    assert answer.status_code == 422
    assert "must be accepted" in problems(answer)["consent.lawful_content"]
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["status"] == "Draft"


async def test_start_without_prospects_is_refused(api: httpx.AsyncClient) -> None:
    campaign_id = await make_campaign(api)
    answer = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)

    assert answer.status_code == 422
    assert problems(answer) == {"prospects": "campaign has no prospects left to send to"}


async def test_a_malformed_prospect_address_is_named_and_nothing_is_stored(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    body = [
        {"first_name": "Ann", "addresses": [{"address": "ann@example.com"}]},
        {"first_name": "Bob", "addresses": [{"address": "bob(at)example.com"}]},
    ]
    answer = await api.post(f"/campaigns/{campaign_id}/prospects", json=body)

    assert answer.status_code == 422
    assert "not a valid email address" in problems(answer)["[1].addresses[0].address"]
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["total_prospects"] == 0


async def test_a_bad_csv_row_is_named_and_loses_nothing_already_stored(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    good = "first_name,work_email\nAnn,ann@example.com\n"
    assert (
        await api.post(
            f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", good, "text/csv")}
        )
    ).status_code == 201
    bad = "first_name,work_email\nBob,bob@example.com\nCem,not an address\n"

    answer = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", bad, "text/csv")}
    )

    assert answer.status_code == 422
    assert "not a valid email address" in problems(answer)["row 3: addresses.0.address"]
    view = (await api.get(f"/campaigns/{campaign_id}")).json()
    assert view["total_prospects"] == 1
    assert view["prospects"][0]["name"] == "Ann"


async def test_csv_must_be_utf8_text_with_an_address_column(api: httpx.AsyncClient) -> None:
    campaign_id = await make_campaign(api)
    url = f"/campaigns/{campaign_id}/prospects/csv"

    binary = await api.post(url, files={"file": ("p.csv", b"\xff\xfe\x00bad", "text/csv")})
    no_address = await api.post(url, files={"file": ("p.csv", "first_name\nAnn\n", "text/csv")})

    assert "UTF-8" in problems(binary)["file"]
    assert "needs an address or phone column" in problems(no_address)["row 1: header"]


async def test_malformed_json_is_a_422(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/mailboxes", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert answer.status_code == 422
    assert problems(answer)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/mailboxes/999/reconnect", {"username": "a", "password": "p"}, 404, "mailbox_id"),
        ("POST", "/mailboxes/999/resume", None, 404, "mailbox_id"),
        ("POST", "/mailboxes/x/resume", None, 422, "mailbox_id"),
        ("POST", "/campaigns/999/prospects/5/retry", {}, 404, "prospect_id"),
        ("PUT", "/campaigns/999/prospects/5/address", {"address": "a@example.com"}, 404, ""),
        ("POST", "/campaigns/999/retry", {}, 404, "campaign_id"),
        ("POST", "/campaigns/999/retry", {"prospect_ids": "all"}, 422, "prospect_ids"),
        ("POST", "/campaigns/999/prospects/5/retry", {"bypass_validation": "maybe"}, 422, ""),
    ],
)
async def test_recovery_actions_name_what_is_wrong(
    api: httpx.AsyncClient, method: str, path: str, body: Any, status: int, field: str
) -> None:
    answer = await api.request(method, path, json=body)

    assert answer.status_code == status
    named = problems(answer)
    assert any(field in name for name in named), named


async def test_an_address_override_must_be_one_address(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    added = await api.post(
        f"/campaigns/{campaign_id}/prospects", json=[{"addresses": [{"address": "a@example.com"}]}]
    )
    [prospect_id] = added.json()["prospect_ids"]

    answer = await api.put(
        f"/campaigns/{campaign_id}/prospects/{prospect_id}/address",
        json={"address": "not an address\r\nBcc: x@evil.example"},
    )

    assert answer.status_code == 422
    assert "address" in problems(answer)


async def test_a_reconnect_to_an_unreachable_server_is_named_and_stores_nothing(
    api: httpx.AsyncClient,
) -> None:
    mailbox_id = await make_mailbox(api)
    answer = await api.post(
        f"/mailboxes/{mailbox_id}/reconnect", json={"username": "eve", "password": "new-secret"}
    )

    assert problems(answer)["smtp_host"] == "the SMTP server: could not connect"
    assert "new-secret" not in answer.text
    mailbox = (await api.get(f"/mailboxes/{mailbox_id}")).json()
    assert mailbox["username"] == "ada"


async def test_an_imap_host_the_resolver_cannot_encode_is_named(api: httpx.AsyncClient) -> None:
    mailbox_id = await make_mailbox(api)
    answer = await api.put(
        f"/mailboxes/{mailbox_id}/imap",
        json={"host": "imap\x86.example.com", "username": "ada", "password": "pw"},
    )

    assert answer.status_code == 422
    assert "not a host name" in problems(answer)["host"]
    assert "imap\x86" not in (await api.get(f"/mailboxes/{mailbox_id}")).text


async def test_an_offset_past_the_database_integers_is_named(api: httpx.AsyncClient) -> None:
    campaign_id = await make_campaign(api)

    answer = await api.get(f"/campaigns/{campaign_id}", params={"offset": 2**64})

    assert answer.status_code == 422
    assert "out of range" in problems(answer)["offset"]


async def test_hosts_by_name_address_or_international_name_are_taken(
    api: httpx.AsyncClient,
) -> None:
    for host in ("smtp.example.com", "192.0.2.10", "2001:db8::1", "mail.bücher.example"):
        answer = await api.post("/mailboxes", json={**MAILBOX, "smtp_host": host})
        assert answer.status_code == 201, answer.text
