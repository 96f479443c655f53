"""Requests are bounded before they are read: a body over its route's limit is a 413 and a
deeply nested JSON body a 422, both in the one error shape, and nothing is stored."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from outbound.api.limits import DEFAULT_LIMIT, MAX_JSON_DEPTH, MiB
from tests.api.test_bad_input import MAILBOX, STEP, make_campaign, problems


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_a_body_over_the_limit_is_refused_from_its_declared_length(
    api: httpx.AsyncClient,
) -> None:
    big = {**MAILBOX, "from_name": "x" * DEFAULT_LIMIT}

    answer = await api.post("/mailboxes", json=big)

    assert answer.status_code == 413
    assert "at most 1 MiB" in problems(answer)["body"]
    assert (await api.get("/mailboxes")).json() == []


async def test_a_streamed_body_is_cut_past_the_limit(api: httpx.AsyncClient) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 50 * MiB:
            sent += 64 * 1024
            yield b"x" * 64 * 1024

    answer = await api.post(
        "/mailboxes/1/reconnect", content=endless(), headers={"content-type": "text/plain"}
    )

    assert answer.status_code == 413
    assert "at most 1 MiB" in problems(answer)["body"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
@pytest.mark.parametrize("content_type", ["application/json", "application/x+json", None])
async def test_deeply_nested_json_is_a_422_in_the_error_shape(
    api: httpx.AsyncClient, depth: int, content_type: str | None
) -> None:
    body = '{"name": "Hiring", "mailbox_id": 1, "steps": ' + nested(depth) + "}"
    headers = {"content-type": content_type} if content_type else {}

    answer = await api.post("/campaigns", content=body, headers=headers)

    assert answer.status_code == 422
    assert problems(answer) == {"body": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"}
    assert (await api.get("/campaigns")).json() == []


async def test_nesting_inside_strings_and_ordinary_bodies_pass(api: httpx.AsyncClient) -> None:
    brackets = "[" * 200 + "{ " * 200
    campaign_id = await make_campaign(api, steps=[{**STEP, "body": f"Hi {brackets}"}])

    assert (await api.get(f"/campaigns/{campaign_id}")).status_code == 200


def prospects_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["first_name", "email"])
    writer.writerows([f"P{n}", f"p{n}@example.org"] for n in range(rows))
    return out.getvalue().encode()


async def test_a_csv_of_10000_rows_is_taken_and_one_more_row_is_refused(
    api: httpx.AsyncClient,
) -> None:
    full = await make_campaign(api)
    over = await make_campaign(api)

    taken = await api.post(
        f"/campaigns/{full}/prospects/csv", files={"file": ("p.csv", prospects_csv(10_000))}
    )
    refused = await api.post(
        f"/campaigns/{over}/prospects/csv", files={"file": ("p.csv", prospects_csv(10_001))}
    )

    assert taken.status_code == 201 and taken.json()["enrolled"] == 10_000
    assert len(prospects_csv(10_000)) > DEFAULT_LIMIT / 8  # a route of its own limit
    assert refused.status_code == 422
    assert "at most 10,000 prospect rows" in problems(refused)["file"]
    assert (await api.get(f"/campaigns/{over}")).json()["total_prospects"] == 0


async def test_a_prospect_list_over_10000_is_refused_naming_the_limit(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    people: list[dict[str, Any]] = [
        {"addresses": [{"address": f"p{n}@example.org"}]} for n in range(10_001)
    ]

    answer = await api.post(f"/campaigns/{campaign_id}/prospects", json=people)

    assert answer.status_code == 422
    assert "at most 10000 items" in problems(answer)["body"]
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["total_prospects"] == 0


async def test_larger_routes_have_their_own_limits(
    api: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    campaign_id = await make_campaign(api)
    over_csv = b"email\n" + b"x" * (20 * MiB)

    refused = await api.post(
        f"/campaigns/{campaign_id}/prospects/csv", files={"file": ("p.csv", over_csv)}
    )
    webhook = await public.post(
        "/inbound/1", content=b"x" * (2 * MiB), headers={"content-type": "message/rfc822"}
    )

    assert refused.status_code == 413 and "at most 20 MiB" in problems(refused)["body"]
    assert webhook.status_code == 401  # over the default limit, within the webhook's: read
    assert json.loads(webhook.text)["detail"][0]["field"] == "authorization"
