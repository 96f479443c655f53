"""Steps, manual tasks, bulk actions and moves: bad input is a 4xx naming the field, and a
refused request leaves the campaign exactly as it was. Draft campaigns need no Temporal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import STEP, make_campaign, make_mailbox, problems

TASK = {"kind": "manual_task", "task": "Call {{ first_name }}"}


async def steps_of(api: httpx.AsyncClient, campaign_id: int) -> list[dict[str, Any]]:
    return list((await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]["steps"])


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ({"kind": "manual_task"}, "a manual_task step needs task"),
        ({**TASK, "subject": "Hi"}, "a manual_task step has no subject or body"),
        ({"subject": "Hi"}, "an email step needs body"),
        ({**STEP, "task": "Call"}, "an email step has none"),
        ({**TASK, "task": ""}, "at least 1 character"),
        ({"kind": "fax", "task": "x"}, "'email', 'sms' or 'manual_task'"),
    ],
)
async def test_a_step_of_the_wrong_shape_is_refused(
    api: httpx.AsyncClient, step: dict[str, Any], reason: str
) -> None:
    mailbox_id = await make_mailbox(api)
    answer = await api.post(
        "/campaigns", json={"name": "Hiring", "mailbox_id": mailbox_id, "steps": [STEP, step]}
    )

    assert answer.status_code == 422
    assert any(reason in r for f, r in problems(answer).items() if f.startswith("steps[1]"))
    assert (await api.get("/campaigns")).json() == []


async def test_an_email_right_after_a_manual_task_cannot_reply_in_a_thread(
    api: httpx.AsyncClient,
) -> None:
    mailbox_id = await make_mailbox(api)
    steps = [STEP, TASK, {**STEP, "thread_mode": "same_thread"}]
    answer = await api.post(
        "/campaigns", json={"name": "Hiring", "mailbox_id": mailbox_id, "steps": steps}
    )
    assert answer.status_code == 422 and "step 3 follows a manual task" in answer.text


async def test_a_campaign_with_a_manual_task_shows_the_task_and_no_subject(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api, steps=[STEP, TASK])

    email, task = await steps_of(api, campaign_id)

    assert (email["kind"], email["subject"], email["task"]) == ("email", STEP["subject"], None)
    assert (task["kind"], task["subject"], task["body"]) == ("manual_task", None, None)
    assert task["task"] == "Call {{ first_name }}"


@pytest.mark.parametrize(
    ("position", "edit", "status", "field", "reason"),
    [
        (2, {"delay_days": None}, 422, "delay_days", "cannot be null"),
        (1, {"thread_mode": "same_thread"}, 422, "thread_mode", "no thread to reply in"),
        (4, {"thread_mode": "same_thread"}, 422, "thread_mode", "follows a manual task"),
        (3, {"subject": "Hi"}, 422, "subject", "manual_task step has no subject"),
        (2, {"task": "Call"}, 422, "task", "an email step has no task"),
        (2, {"body": "Hi {{ first_name "}, 422, "steps[1].body", "template"),
        (9, {"subject": "Hi"}, 404, "step_id", "not found"),
    ],
)
async def test_a_bad_step_edit_is_refused_and_changes_nothing(
    api: httpx.AsyncClient,
    position: int,
    edit: dict[str, Any],
    status: int,
    field: str,
    reason: str,
) -> None:
    campaign_id = await make_campaign(api, steps=[STEP, STEP, TASK, STEP])
    before = await steps_of(api, campaign_id)

    answer = await api.patch(f"/campaigns/{campaign_id}/steps/{position}", json=edit)

    assert answer.status_code == status, answer.text
    assert reason in problems(answer)[field]
    assert await steps_of(api, campaign_id) == before


async def test_steps_of_a_draft_are_added_edited_and_deleted_in_order(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api, steps=[STEP])
    base = f"/campaigns/{campaign_id}/steps"

    added = await api.post(base, json={**STEP, "subject": "Second"})
    task = await api.post(base, json=TASK)
    edited = await api.patch(f"{base}/2", json={"delay_days": 3})
    deleted = await api.delete(f"{base}/2")
    first_deleted = await api.delete(f"{base}/1")
    last = await api.delete(f"{base}/1")

    assert [a.status_code for a in (added, task, edited, deleted)] == [201, 201, 200, 200]
    assert [(s["position"], s["kind"]) for s in deleted.json()["steps"]] == [
        (1, "email"),
        (2, "manual_task"),
    ]
    assert [(s["position"], s["kind"]) for s in first_deleted.json()["steps"]] == [
        (1, "manual_task")
    ]
    assert last.status_code == 422 and "at least one step" in last.text
    assert len(await steps_of(api, campaign_id)) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"action": "stop"}, "give either prospect_ids or status"),
        ({"action": "stop", "prospect_ids": [1], "status": "Active"}, "either prospect_ids"),
        ({"action": "add_to_campaign", "status": "Active"}, "target"),
        ({"action": "stop", "status": "Active", "target": {"campaign_id": 2}}, "target"),
        ({"action": "explode", "status": "Active"}, "'pause'"),
        ({"action": "stop", "prospect_ids": []}, "at least 1 item"),
        ({"action": "stop", "status": "Asleep"}, "'NotStarted'"),
    ],
)
async def test_a_bad_bulk_action_is_refused(
    api: httpx.AsyncClient, body: dict[str, Any], reason: str
) -> None:
    campaign_id = await make_campaign(api)

    answer = await api.post(f"/campaigns/{campaign_id}/bulk", json=body)

    assert answer.status_code == 422
    assert any(reason in r for r in problems(answer).values()), answer.text


async def test_bulk_on_an_unknown_campaign_is_404(api: httpx.AsyncClient) -> None:
    answer = await api.post("/campaigns/404/bulk", json={"action": "stop", "status": "Active"})
    assert answer.status_code == 404 and "campaign 404 not found" in answer.text


async def test_moving_a_prospect_into_its_own_campaign_or_nowhere_is_refused(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    ann = [{"first_name": "Ann", "addresses": [{"address": "ann@example.com"}]}]
    ann_id = (await api.post(f"/campaigns/{campaign_id}/prospects", json=ann)).json()[
        "prospect_ids"
    ][0]
    url = f"/campaigns/{campaign_id}/prospects/{ann_id}/add-to-campaign"

    same = await api.post(url, json={"campaign_id": campaign_id, "move": True})
    nowhere = await api.post(url, json={"campaign_id": 9999, "move": True})
    status = (await api.get(f"/campaigns/{campaign_id}/prospects/{ann_id}")).json()["status"]

    assert same.status_code == 422 and "already in this campaign" in same.text
    assert nowhere.status_code == 404 and "campaign 9999 not found" in nowhere.text
    assert status == "NotStarted"  # refused: nothing changed


async def test_a_ready_prospect_can_be_stopped_before_its_workflow_exists(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    ann = [{"first_name": "Ann", "addresses": [{"address": "ann@example.com"}]}]
    ann_id = (await api.post(f"/campaigns/{campaign_id}/prospects", json=ann)).json()[
        "prospect_ids"
    ][0]
    base = f"/campaigns/{campaign_id}/prospects/{ann_id}"

    paused = await api.post(f"{base}/pause")
    finished = await api.post(f"{base}/mark-finished")

    assert paused.status_code == 409 and "has not started" in paused.text
    assert (finished.status_code, finished.json()["status"]) == (200, "Completed")
    assert (await api.get(base)).json()["reason"] == "MarkedFinished"
    retried = await api.post(f"{base}/retry")
    assert retried.status_code == 409
    assert "only a Failed prospect can be retried (this one is Completed)" in retried.text
