"""Prospect controls, bulk actions, manual tasks, running-campaign edits and the one-campaign
rule, through the API → dev server → worker → SMTP sink → database."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, select

from outbound.activities import launch as launch_module
from outbound.store.tables import Step
from tests.e2e.conftest import Stack
from tests.e2e.test_campaign_delivery import campaign_view, create_campaign, create_mailbox
from tests.support.factories import CONSENT
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

LATER = {"subject": "Later", "body": "Two", "delay_days": 2}


async def start_with(stack: Stack, steps: list[dict[str, Any]], count: int, tag: str) -> int:
    """A started campaign of ``steps`` to ``count`` new prospects; returns its id."""
    campaign_id = await create_campaign(stack, await create_mailbox(stack), steps)
    people = [
        {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@{tag}.example.com"}]}
        for i in range(count)
    ]
    added = await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)
    assert added.status_code == 201, added.text
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success
    return campaign_id


async def prospects_of(stack: Stack, campaign_id: int) -> list[dict[str, Any]]:
    view = (await stack.api.get(f"/campaigns/{campaign_id}?limit=1000")).json()
    return list(view["prospects"])


async def until_all_on_step(stack: Stack, campaign_id: int, position: int, count: int) -> None:
    """Every prospect's step ``position`` is Scheduled (the one before it was sent)."""

    async def scheduled() -> bool:
        rows = await prospects_of(stack, campaign_id)
        return len(rows) == count and all(
            p["steps"][position - 1]["status"] == "Scheduled" for p in rows
        )

    await eventually(scheduled)


async def test_mark_finished_remove_and_skip_each_act_on_one_prospect(stack: Stack) -> None:
    campaign_id = await start_with(stack, [{"subject": "Hi", "body": "One"}, LATER], 3, "ctl")
    await until_all_on_step(stack, campaign_id, 2, 3)
    first, second, third = (p["prospect_id"] for p in await prospects_of(stack, campaign_id))
    base = f"/campaigns/{campaign_id}/prospects"

    finished = await stack.api.post(f"{base}/{first}/mark-finished")
    removed = await stack.api.post(f"{base}/{second}/remove")
    skipped = await stack.api.post(f"{base}/{third}/skip")
    assert [a.status_code for a in (finished, removed, skipped)] == [200, 200, 200], skipped.text

    async def settled() -> bool:
        view = await campaign_view(stack, campaign_id)
        return bool(view["counts"] == {"Completed": 2, "Removed": 1})

    await eventually(settled)
    one, two, three = [
        (await stack.api.get(f"{base}/{pid}")).json() for pid in (first, second, third)
    ]
    assert (one["status"], one["reason"]) == ("Completed", "MarkedFinished")
    assert [s["status"] for s in one["steps"]] == ["Sent", "Stopped"]
    assert (two["status"], two["steps"]) == ("Removed", [])  # progress deleted …
    assert [m["status"] for m in two["messages"]] == ["Sent", "Canceled"]  # … the log stays
    assert [s["status"] for s in three["steps"]] == ["Sent", "Skipped"]
    assert three["status"] == "Completed"
    assert (await campaign_view(stack, campaign_id))["campaign"]["status"] == "Completed"

    retry = await stack.api.post(f"{base}/{first}/retry")
    again = await stack.api.post(f"{base}/{second}/mark-finished")
    assert retry.status_code == 409 and "Completed" in retry.text
    assert again.status_code == 409 and "already ended (Removed)" in again.text
    assert len(stack.sink.received) == 3  # step 1 each, nothing more


async def test_bulk_actions_by_status_filter_and_by_ids(stack: Stack) -> None:
    campaign_id = await start_with(stack, [{"subject": "Hi", "body": "One"}, LATER], 4, "bulk")
    await until_all_on_step(stack, campaign_id, 2, 4)
    ids = [p["prospect_id"] for p in await prospects_of(stack, campaign_id)]
    bulk = f"/campaigns/{campaign_id}/bulk"

    paused = await stack.api.post(bulk, json={"action": "pause", "status": "Active"})
    assert paused.status_code == 200, paused.text
    assert sorted(paused.json()["done"]) == sorted(ids)

    async def all_paused() -> bool:
        return bool((await campaign_view(stack, campaign_id))["counts"] == {"Paused": 4})

    await eventually(all_paused)
    stopped = await stack.api.post(
        bulk, json={"action": "stop", "prospect_ids": [ids[0], ids[1], 999_999]}
    )
    finished = await stack.api.post(bulk, json={"action": "mark_finished", "status": "Paused"})
    neither = await stack.api.post(bulk, json={"action": "stop"})

    assert stopped.json()["done"] == ids[:2]
    assert stopped.json()["refused"][0]["prospect_ids"] == [999_999]
    assert sorted(finished.json()["done"]) == sorted(ids[2:])
    assert neither.status_code == 422 and "prospect_ids or status" in neither.text

    async def settled() -> bool:
        counts = (await campaign_view(stack, campaign_id))["counts"]
        return bool(counts == {"Stopped": 2, "Completed": 2})

    await eventually(settled)
    assert len(stack.sink.received) == 4


async def test_a_manual_task_waits_on_the_to_do_list_until_completed(stack: Stack) -> None:
    steps = [
        {"subject": "Hi", "body": "One"},
        {"kind": "manual_task", "task": "Call {{ first_name }} about the role"},
        {"subject": "After the call", "body": "Three"},
    ]
    campaign_id = await start_with(stack, steps, 1, "task")
    (prospect_id,) = (p["prospect_id"] for p in await prospects_of(stack, campaign_id))
    base = f"/campaigns/{campaign_id}/prospects/{prospect_id}"

    async def task_listed() -> bool:
        return len((await stack.api.get("/tasks")).json()) == 1

    await eventually(task_listed)
    (task,) = (await stack.api.get("/tasks")).json()
    waiting = (await stack.api.get(base)).json()
    assert (task["campaign_id"], task["prospect_id"], task["position"]) == (
        campaign_id,
        prospect_id,
        2,
    )
    assert task["task"] == "Call {{ first_name }} about the role"
    assert waiting["status"] == "ManualTask"
    assert [s["status"] for s in waiting["steps"]] == ["Sent", "ManualTask", "Pending"]
    assert len(stack.sink.received) == 1
    assert task["owner"] == "ada@hiring.example.com"  # the campaign's owner: the key's user
    someone = (await stack.api.post("/users", json={"email": "bo@hiring.example.com"})).json()
    assert (await stack.api.get(f"/tasks?user_id={someone['id']}")).json() == []

    done = await stack.api.post(f"{base}/tasks/2/complete")
    assert done.status_code == 200, done.text

    async def third_sent() -> bool:
        return len(stack.sink.received) == 2

    await eventually(third_sent)
    twice = await stack.api.post(f"{base}/tasks/2/complete")
    assert twice.status_code == 409
    assert stack.sink.received[1].message["Subject"] == "After the call"
    assert (await stack.api.get("/tasks")).json() == []

    async def completed() -> bool:
        return bool((await stack.api.get(base)).json()["status"] == "Completed")

    await eventually(completed)
    final = (await stack.api.get(base)).json()
    assert [s["status"] for s in final["steps"]] == ["Sent", "Sent", "Sent"]


async def test_a_prospect_is_active_in_one_campaign_unless_overridden_and_can_move(
    stack: Stack,
) -> None:
    mailbox_id = await create_mailbox(stack)
    first, second, third = [
        await create_campaign(stack, mailbox_id, [{"subject": "Hi", "body": "One"}])
        for _ in range(3)
    ]
    ann = [{"first_name": "Ann", "addresses": [{"address": "ann@one.example.com"}]}]
    added = await stack.api.post(f"/campaigns/{first}/prospects", json=ann)
    ann_id = added.json()["prospect_ids"][0]

    refused = await stack.api.post(f"/campaigns/{second}/prospects", json=ann)
    repeated = await stack.api.post(f"/campaigns/{first}/prospects", json=ann)
    overridden = await stack.api.post(
        f"/campaigns/{second}/prospects?allow_other_active=true", json=ann
    )

    assert refused.status_code == 409
    problem = refused.json()["detail"][0]
    assert f"campaign {first}" in problem["reason"] and problem["prospect_ids"] == [ann_id]
    assert (repeated.json()["enrolled"], repeated.json()["already_enrolled"]) == (0, 1)
    assert overridden.status_code == 201 and overridden.json()["enrolled"] == 1

    move = {"campaign_id": third, "move": True}
    moving = f"/campaigns/{first}/prospects/{ann_id}/add-to-campaign"
    still_elsewhere = await stack.api.post(moving, json=move)
    assert still_elsewhere.status_code == 409
    assert f"campaign {second}" in still_elsewhere.text  # not the one it leaves
    assert (await stack.api.get(f"/campaigns/{first}/prospects/{ann_id}")).json()[
        "status"
    ] == "NotStarted"  # refused: nothing changed

    moved = await stack.api.post(moving, json={**move, "allow_other_active": True})
    assert moved.status_code == 201, moved.text
    left = (await stack.api.get(f"/campaigns/{first}/prospects/{ann_id}")).json()
    joined = (await stack.api.get(f"/campaigns/{third}/prospects/{ann_id}")).json()
    assert (left["status"], joined["status"]) == ("Removed", "NotStarted")

    # Where Ann moved to, she gets the campaign's message.
    started = await stack.api.post(f"/campaigns/{third}/start", json=CONSENT)
    assert started.status_code == 202, started.text

    async def delivered() -> bool:
        return len(stack.sink.received) == 1

    await eventually(delivered)
    assert stack.sink.received[0].envelope_to == ["ann@one.example.com"]


async def test_who_replied_is_not_written_to_again_by_accident_and_a_stopped_one_moves_on(
    stack: Stack,
) -> None:
    first = await start_with(stack, [{"subject": "Hi", "body": "One"}, LATER], 2, "again")
    await until_all_on_step(stack, first, 2, 2)
    ann, bob = (p["prospect_id"] for p in await prospects_of(stack, first))
    base = f"/campaigns/{first}/prospects"
    assert (await stack.api.post(f"{base}/{ann}/reply")).status_code == 200
    assert (await stack.api.post(f"{base}/{bob}/stop")).status_code == 200

    async def ended() -> bool:
        return bool((await campaign_view(stack, first))["counts"] == {"Replied": 1, "Stopped": 1})

    await eventually(ended)
    second = await create_campaign(
        stack, await create_mailbox(stack), [{"subject": "New", "body": "Two"}]
    )
    refused = await stack.api.post(f"{base}/{ann}/add-to-campaign", json={"campaign_id": second})
    moved = await stack.api.post(
        f"{base}/{bob}/add-to-campaign", json={"campaign_id": second, "move": True}
    )

    assert refused.status_code == 409 and f"ended Replied in campaign {first}" in refused.text
    assert moved.status_code == 201, moved.text
    assert (await stack.api.post(f"/campaigns/{second}/start", json=CONSENT)).is_success

    async def bob_written_to() -> bool:
        return any(r.message["Subject"] == "New" for r in stack.sink.received)

    await eventually(bob_written_to)
    assert [r.envelope_to[0] for r in stack.sink.received if r.message["Subject"] == "New"] == [
        "p1@again.example.com"
    ]
    assert (await campaign_view(stack, second))["total_prospects"] == 1


async def test_a_step_with_active_recipients_is_skipped_for_everyone_not_deleted(
    stack: Stack,
) -> None:
    steps = [
        {"subject": "Hi", "body": "One"},
        {"subject": "Wait two days", "body": "Two", "delay_days": 2},
        {"subject": "Third", "body": "Three"},
    ]
    campaign_id = await start_with(stack, steps, 3, "edit")
    await until_all_on_step(stack, campaign_id, 2, 3)
    base = f"/campaigns/{campaign_id}/steps"

    deleting = await stack.api.delete(f"{base}/2")
    editing = await stack.api.patch(f"{base}/2", json={"subject": "New"})
    history = await stack.api.delete(f"{base}/1")
    assert deleting.status_code == 409 and "3 active recipient(s)" in deleting.text
    assert editing.status_code == 409 and "reached by 3 prospect(s)" in editing.text
    assert history.status_code == 409

    edited = await stack.api.patch(f"{base}/3", json={"subject": "Third, edited"})
    assert edited.status_code == 200, edited.text
    skipped = await stack.api.post(f"{base}/2/skip")
    assert skipped.status_code == 200
    assert [s["skipped"] for s in skipped.json()["steps"]] == [False, True, False]

    async def all_done() -> bool:
        return bool((await campaign_view(stack, campaign_id))["counts"] == {"Completed": 3})

    await eventually(all_done)
    subjects = Counter(r.message["Subject"] for r in stack.sink.received)
    assert subjects == Counter({"Hi": 3, "Third, edited": 3})
    rows = await prospects_of(stack, campaign_id)
    assert {tuple(s["status"] for s in p["steps"]) for p in rows} == {("Sent", "Skipped", "Sent")}


async def test_a_step_edit_during_the_start_fan_out_still_reaches_those_sequences(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit lands after a batch read the steps but before it recorded its workflows, so
    the edit's own fan-out would miss them: the batch hands them the current plan itself."""
    steps = [{"subject": "Hi", "body": "One"}, {"subject": "Second", "body": "Two"}]
    campaign_id = await create_campaign(stack, await create_mailbox(stack), steps)
    people = [{"addresses": [{"address": f"p{i}@race.example.com"}]} for i in range(3)]
    assert (await stack.api.post(f"/campaigns/{campaign_id}/prospects", json=people)).is_success
    started = launch_module.launch

    async def launch_then_edit(*args: Any) -> tuple[int, int]:
        result = await started(*args)
        with Session(stack.engine) as session:  # as PATCH would, minus its fan-out
            step = session.exec(
                select(Step).where(Step.campaign_id == campaign_id, Step.position == 2)
            ).one()
            step.skipped = True
            session.add(step)
            session.commit()
        return result

    monkeypatch.setattr(launch_module, "launch", launch_then_edit)
    assert (await stack.api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)).is_success

    async def all_done() -> bool:
        return bool((await campaign_view(stack, campaign_id))["counts"] == {"Completed": 3})

    await eventually(all_done)
    assert Counter(r.message["Subject"] for r in stack.sink.received) == Counter({"Hi": 3})
    rows = await prospects_of(stack, campaign_id)
    assert {tuple(s["status"] for s in p["steps"]) for p in rows} == {("Sent", "Skipped")}
