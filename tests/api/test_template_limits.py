"""Templates are refused at create and edit time when they are too long, too expensive with
sample fields, or refused by the sandbox: a 422 naming the step and the limit, nothing stored."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import STEP, make_campaign, make_mailbox, problems

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
REFUSED = {
    "nested loops": ({"body": NESTED_LOOPS}, "body", "10,000 loop iterations"),
    "repetition": ({"body": "{{ 'a' * 10**9 }}"}, "body", "100,000 characters"),
    "repetition in the subject": ({"subject": "{{ 'a' * 10**9 }}"}, "subject", "100,000"),
    "sandbox escape": ({"body": "{{ ''.__class__ }}"}, "body", "sandbox refuses"),
    "over-long body": ({"body": "x" * 20_001}, "body", "at most 20,000 characters"),
    "over-long subject": ({"subject": "x" * 999}, "subject", "at most 998 characters"),
    # Found by the request-limit tests: jinja's parser recursed into a RecursionError (500).
    "deeply nested expression": ({"body": "{{" * 2000}, "body", "nested too deeply"),
}


@pytest.mark.parametrize(("change", "part", "reason"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_costly_or_unsafe_template_is_refused_at_create_time(
    api: httpx.AsyncClient, change: dict[str, Any], part: str, reason: str
) -> None:
    mailbox_id = await make_mailbox(api)
    began = time.monotonic()

    answer = await api.post(
        "/campaigns",
        json={"name": "Hiring", "mailbox_id": mailbox_id, "steps": [STEP, {**STEP, **change}]},
    )

    assert answer.status_code == 422, answer.text
    assert reason in problems(answer)[f"steps[1].{part}"]
    assert time.monotonic() - began < 5
    assert (await api.get("/campaigns")).json() == []


@pytest.mark.parametrize(("change", "part", "reason"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_costly_or_unsafe_template_is_refused_when_a_step_is_added_or_edited(
    api: httpx.AsyncClient, change: dict[str, Any], part: str, reason: str
) -> None:
    campaign_id = await make_campaign(api, steps=[STEP, STEP])
    before = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["steps"]

    edited = await api.patch(f"/campaigns/{campaign_id}/steps/2", json=change)
    added = await api.post(f"/campaigns/{campaign_id}/steps", json={**STEP, **change})

    assert edited.status_code == added.status_code == 422
    if part == "subject" and "998" in reason:  # the schema's limit: the URL names the step
        assert reason in problems(edited)["subject"] and reason in problems(added)["subject"]
    else:
        assert problems(edited)[f"steps[1].{part}"].startswith(f"step 2's {part}: ")
        assert reason in problems(edited)[f"steps[1].{part}"]
        assert problems(added)[f"steps[2].{part}"].startswith(f"step 3's {part}: ")
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["steps"] == before


async def test_a_template_costly_only_with_real_fields_is_accepted(api: httpx.AsyncClient) -> None:
    bound = "{% for i in range(n|int) %}{% for j in range(n|int) %}x{% endfor %}{% endfor %}"

    await make_campaign(api, steps=[{**STEP, "body": bound}])
