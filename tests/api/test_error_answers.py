"""Every 4xx has one shape, names the real field and gives a reason a person can act on.

Whatever refuses the request: our checks, pydantic, the JSON decoder, FastAPI's
body reader, or the router.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import MAILBOX, STEP, make_campaign, make_mailbox

JSON = {"content-type": "application/json"}


def only_problem(answer: httpx.Response, status: int) -> tuple[str, str]:
    """The answer's single (field, reason), after checking the shape is exactly ours."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["detail"], body
    [problem] = body["detail"]
    assert set(problem) == {"field", "reason"}, problem
    return problem["field"], problem["reason"]


async def test_malformed_json_names_the_body_and_where_in_it(api: httpx.AsyncClient) -> None:
    answer = await api.post("/mailboxes", content=b'{"smtp_host": "a",\n  }', headers=JSON)

    field, reason = only_problem(answer, 422)
    assert field == "body"
    assert reason == (
        "not valid JSON: Expecting property name enclosed in double quotes at line 2, column 3"
    )


async def test_a_body_that_is_not_utf8_has_the_same_shape(api: httpx.AsyncClient) -> None:
    answer = await api.post("/mailboxes", content=b'{"smtp_host": "\xff"}', headers=JSON)

    field, reason = only_problem(answer, 400)
    assert field == "body"
    assert "not valid UTF-8 (byte 0xff at position 15)" in reason


async def test_json_nested_too_deeply_has_the_same_shape(api: httpx.AsyncClient) -> None:
    answer = await api.post("/mailboxes", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)

    field, reason = only_problem(answer, 422)
    assert (field, reason) == ("body", "JSON nested deeper than 32 levels")


async def test_an_unknown_path_and_a_wrong_method_have_the_same_shape(
    api: httpx.AsyncClient,
) -> None:
    unknown = await api.get("/campaignz/1")
    wrong_method = await api.delete("/mailboxes")

    assert only_problem(unknown, 404) == ("path", "nothing is at /campaignz/1")
    assert only_problem(wrong_method, 405) == (
        "method",
        "DELETE is not allowed on /mailboxes; it answers GET, POST",
    )
    assert wrong_method.headers["allow"]  # the router's header is kept


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"send_start": "18:00", "send_end": "09:00"},
            "send_end",
            "must be after send_start (18:00); use 24:00 for midnight",
        ),
        ({"from_name": "A" * 201}, "from_name", "String should have at most 200 characters"),
    ],
)
async def test_mailbox_checks_name_their_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    answer = await api.post("/mailboxes", json={**MAILBOX, **change})

    assert only_problem(answer, 422) == (field, reason)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"when_to_send": "specific_time"},
            "specific_time",
            "when_to_send = specific_time needs it (HH:MM)",
        ),
        (
            {"send_start": "18:00", "send_end": "09:00"},
            "send_end",
            "must be after send_start (18:00); use 24:00 for midnight",
        ),
        ({"send_start": "09:00"}, "send_end", "give both send_start and send_end, or neither"),
        (
            {"only_preferred_type": True},
            "address_preference",
            "only_preferred_type needs an address_preference",
        ),
        ({"mailbox_id": 2**70}, "mailbox_id", "number out of range (at most 9223372036854775807)"),
        ({"steps": [{"subject": "Hi"}]}, "steps[0].body", "an email step needs body"),
        (
            {"steps": [STEP, {"kind": "manual_task", "task": "Call", "subject": "Hi"}]},
            "steps[1].subject",
            "a manual_task step has no subject or body",
        ),
    ],
)
async def test_campaign_checks_name_their_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    body = {"name": "Hiring", "mailbox_id": await make_mailbox(api), "steps": [STEP], **change}

    answer = await api.post("/campaigns", json=body)

    assert only_problem(answer, 422) == (field, reason)
    assert (await api.get("/campaigns")).json() == []


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"action": "pause"},
            "prospect_ids",
            "give either prospect_ids or status (which prospects to act on)",
        ),
        (
            {"action": "pause", "prospect_ids": [1, 2**70]},
            "prospect_ids[1]",
            "number out of range (at most 9223372036854775807)",
        ),
    ],
)
async def test_bulk_checks_name_their_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, reason: str
) -> None:
    campaign_id = await make_campaign(api)

    answer = await api.post(f"/campaigns/{campaign_id}/bulk", json=body)

    assert only_problem(answer, 422) == (field, reason)
