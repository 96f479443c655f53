"""The enrollment workflow under time skipping, with stand-in activities (Temporal's idiom).

Each test starts one prospect's sequence and checks what a user would see:
when messages go out, what pause / resume / stop / reply do, and the live
state and search attributes operators filter on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from outbound.domain import search_attributes
from outbound.domain.sequence import ManualReply
from outbound.domain.statuses import MessageStatus, ProspectStatus, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import GRACE, JITTER, Harness, next_midnight, state_of


async def test_nothing_is_sent_during_the_grace_delay(harness: Harness) -> None:
    handle = await harness.start(timedelta(0))
    await harness.env.sleep(GRACE - timedelta(minutes=1))

    during = await state_of(handle)
    assert harness.fakes.sends == []
    assert during.status is ProspectStatus.NOT_STARTED
    assert during.steps[0].status is StepStatus.PENDING

    final = await handle.result()
    assert harness.fakes.positions_sent == [1]
    sent_after = harness.fakes.sends[0][1] - harness.started_at
    assert GRACE <= sent_after < GRACE + timedelta(minutes=1)
    assert final.status is ProspectStatus.COMPLETED


async def test_follow_ups_wait_their_delay_in_days_after_the_previous_send(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=3), timedelta(days=2))

    final = await handle.result()

    times = [when for _, when in harness.fakes.sends]
    assert harness.fakes.positions_sent == [1, 2, 3]
    # same time of day as the first message, ± 20 minutes (seed 001)
    assert abs(times[1] - times[0] - timedelta(days=3)) <= JITTER
    assert abs(times[2] - times[0] - timedelta(days=5)) <= JITTER
    assert final.status is ProspectStatus.COMPLETED
    assert [s.status for s in final.steps] == [StepStatus.SENT] * 3


async def test_follow_ups_of_a_first_message_sent_at_midnight_keep_to_their_days(
    harness: Harness,
) -> None:
    """Each follow-up's ±20 min falls either side of midnight; the next step still waits its
    whole delay (it once counted from the date the jitter landed on: a day early or late)."""
    midnight = await next_midnight(harness.env)
    handles = [
        await harness.start(
            timedelta(0),
            *[timedelta(days=1)] * 3,
            enrollment_id=prospect,
            started_at=midnight - GRACE,
        )
        for prospect in range(4)
    ]
    for handle in handles:  # one by one: a gather would not skip time
        await handle.result()

    for prospect in range(4):
        times = [when for request, when in harness.fakes.sends if request.enrollment_id == prospect]
        assert len(times) == 4
        assert times[0] - midnight < timedelta(minutes=1)
        for step, sent_at in enumerate(times[1:], start=1):
            assert abs(sent_at - times[0] - timedelta(days=step)) <= JITTER


async def test_same_thread_follow_up_carries_the_thread_message_ids(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1), timedelta(days=1))
    await handle.result()

    first, second, third = (request for request, _ in harness.fakes.sends)
    assert first.previous_message_ids == []
    assert second.previous_message_ids == ["<m7.1@example.com>"]
    assert third.previous_message_ids == ["<m7.1@example.com>", "<m7.2@example.com>"]


async def test_pause_holds_the_sequence_and_resume_sends_what_came_due(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))
    await handle.signal(EnrollmentWorkflow.pause)
    await harness.env.sleep(timedelta(days=2))

    paused = await state_of(handle)
    assert harness.fakes.sends == []
    assert paused.status is ProspectStatus.PAUSED
    assert paused.steps[0].status is StepStatus.PENDING

    await handle.signal(EnrollmentWorkflow.resume)
    await harness.env.sleep(timedelta(minutes=1))
    assert harness.fakes.positions_sent == [1]
    assert (await state_of(handle)).status is ProspectStatus.ACTIVE

    final = await handle.result()
    assert harness.fakes.positions_sent == [1, 2]
    assert final.status is ProspectStatus.COMPLETED


async def test_stop_mid_sequence_sends_nothing_more(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=3), timedelta(days=3))
    await harness.env.sleep(GRACE + timedelta(days=1))
    assert harness.fakes.positions_sent == [1]

    await handle.signal(EnrollmentWorkflow.stop)
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.STOPPED
    assert [s.status for s in final.steps] == [
        StepStatus.SENT,
        StepStatus.STOPPED,
        StepStatus.STOPPED,
    ]
    assert harness.fakes.recorded[-1].status is ProspectStatus.STOPPED


async def test_reply_mid_sequence_ends_it_as_replied(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=3), timedelta(days=3))
    await harness.env.sleep(GRACE + timedelta(days=4))
    assert harness.fakes.positions_sent == [1, 2]

    replied_at = await harness.env.get_current_time()
    await handle.signal(EnrollmentWorkflow.mark_replied, ManualReply(received_at=replied_at))
    final = await handle.result()

    assert harness.fakes.positions_sent == [1, 2]
    assert final.status is ProspectStatus.REPLIED
    assert final.replied_at == replied_at
    assert final.steps[2].status is StepStatus.STOPPED


async def test_stop_during_a_send_lets_it_finish_and_sends_nothing_after(harness: Harness) -> None:
    harness.fakes.gate = asyncio.Event()
    handle = await harness.start(timedelta(0), timedelta(days=1))
    result = asyncio.create_task(handle.result())
    await asyncio.wait_for(harness.fakes.send_started.wait(), timeout=30)

    await handle.signal(EnrollmentWorkflow.stop)
    harness.fakes.gate.set()
    final = await result

    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.STOPPED
    assert [s.status for s in final.steps] == [StepStatus.SENT, StepStatus.STOPPED]
    assert final.steps[0].message_id == "<m7.1@example.com>"


async def test_stop_while_the_state_is_being_recorded_ends_cleanly(harness: Harness) -> None:
    harness.fakes.record_gate = asyncio.Event()
    handle = await harness.start(timedelta(0), timedelta(days=2))
    result = asyncio.create_task(handle.result())
    await asyncio.wait_for(harness.fakes.recording_active.wait(), timeout=30)

    await handle.signal(EnrollmentWorkflow.stop)
    harness.fakes.record_gate.set()
    final = await result

    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.STOPPED
    assert harness.fakes.recorded[-1].status is ProspectStatus.STOPPED
    assert [r.key for r in harness.fakes.releases] == ["7:2:1"]  # step 2's slot given back


async def test_canceling_the_scheduled_message_skips_it_and_the_sequence_moves_on(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))

    state = await handle.execute_update(EnrollmentWorkflow.cancel_message, 1)
    assert state.steps[0].status is StepStatus.CANCELED
    assert harness.fakes.releases[-1].message_status is MessageStatus.CANCELED

    final = await handle.result()
    assert harness.fakes.positions_sent == [2]
    assert [s.status for s in final.steps] == [StepStatus.CANCELED, StepStatus.SENT]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_message_being_sent_cannot_be_canceled(harness: Harness) -> None:
    harness.fakes.gate = asyncio.Event()
    handle = await harness.start(timedelta(0), timedelta(days=1))
    result = asyncio.create_task(handle.result())
    await asyncio.wait_for(harness.fakes.send_started.wait(), timeout=30)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(EnrollmentWorkflow.cancel_message, 1)
    harness.fakes.gate.set()
    final = await result

    assert "being sent" in str(refused.value.cause)
    assert final.steps[0].status is StepStatus.SENT
    assert harness.fakes.positions_sent == [1, 2]


async def test_search_attributes_follow_the_prospect_status(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(GRACE + timedelta(hours=1))

    running = (await handle.describe()).typed_search_attributes
    assert running.get(search_attributes.CAMPAIGN_ID) == "3"
    assert running.get(search_attributes.MAILBOX_ID) == "2"
    assert running.get(search_attributes.PROSPECT_STATUS) == "Active"

    await handle.result()
    finished = (await handle.describe()).typed_search_attributes
    assert finished.get(search_attributes.PROSPECT_STATUS) == "Completed"


async def test_the_database_mirror_never_goes_back_in_time(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await handle.result()

    versions = [s.updated_at for s in harness.fakes.recorded]
    assert all(v is not None for v in versions)
    assert versions == sorted(versions)  # type: ignore[type-var]
    assert harness.fakes.recorded[-1].status is ProspectStatus.COMPLETED
