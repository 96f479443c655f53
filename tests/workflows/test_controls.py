"""The per-prospect controls of PRODUCT.md rule 10 in one prospect's workflow (time skipping).

Mark finished, remove, skip the current step, manual tasks, steps edited or
skipped for everyone while the campaign runs, and the tricky orders of the
issue: pause during the grace delay, skip the last step, retry after mark
finished, resume after the slot has passed. Stop during an in-flight send is
in ``test_enrollment_workflow``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from outbound.domain.sequence import RetryRequest, SkipRequest
from outbound.domain.statuses import MessageStatus, ProspectStatus, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import Harness, plans, state_of, until


async def test_mark_finished_keeps_history_ends_completed_and_refuses_a_retry(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2), timedelta(days=2))
    await until(harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(EnrollmentWorkflow.mark_finished)
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert (final.status, final.reason) == (ProspectStatus.COMPLETED, "MarkedFinished")
    assert [s.status for s in final.steps] == [
        StepStatus.SENT,
        StepStatus.STOPPED,
        StepStatus.STOPPED,
    ]
    assert final.steps[0].message_id == "<m7.1@example.com>"  # history kept
    assert [r.key for r in harness.fakes.releases] == ["7:2:1"]  # step 2's slot given back


async def test_a_retry_after_mark_finished_is_refused(harness: Harness) -> None:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await until(harness, handle, lambda s: s.awaiting_retry)
    await handle.signal(EnrollmentWorkflow.mark_finished)
    final = await handle.result()

    # Marked finished, the sequence closes at once: a later retry finds no workflow to
    # reopen (the API answers 409 from the database before asking, tests/api).
    with pytest.raises(RPCError) as refused:
        await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())

    assert refused.value.status is RPCStatusCode.NOT_FOUND
    assert (final.status, final.reason) == (ProspectStatus.COMPLETED, "MarkedFinished")
    assert harness.fakes.positions_sent == []
    assert [s.status for s in final.steps] == [StepStatus.FAILED, StepStatus.STOPPED]


async def test_remove_ends_the_sequence_removed_and_gives_the_slot_back(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))  # step 1 holds a slot, in the grace delay

    await handle.signal(EnrollmentWorkflow.remove)
    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.REMOVED
    assert harness.fakes.releases[-1].message_status is MessageStatus.CANCELED
    assert harness.fakes.recorded[-1].status is ProspectStatus.REMOVED


async def test_skipping_the_current_step_sends_the_next_one(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))

    skipped = await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest())
    assert skipped.steps[0].status is StepStatus.SKIPPED

    final = await handle.result()
    assert harness.fakes.positions_sent == [2]
    assert [s.status for s in final.steps] == [StepStatus.SKIPPED, StepStatus.SENT]
    assert final.status is ProspectStatus.COMPLETED


async def test_skipping_the_last_step_completes_the_sequence_without_sending_it(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=3))
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)

    await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest(position=2))
    final = await handle.result()

    assert harness.fakes.positions_sent == [1]
    assert [s.status for s in final.steps] == [StepStatus.SENT, StepStatus.SKIPPED]
    assert final.status is ProspectStatus.COMPLETED
    assert harness.fakes.releases[-1].key == "7:2:1"


async def test_skipping_a_failed_step_moves_on_without_a_retry(harness: Harness) -> None:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await until(harness, handle, lambda s: s.awaiting_retry)

    state = await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest())
    final = await handle.result()

    assert state.status is not ProspectStatus.FAILED
    assert harness.fakes.positions_sent == [2]
    assert [s.status for s in final.steps] == [StepStatus.SKIPPED, StepStatus.SENT]
    assert final.status is ProspectStatus.COMPLETED


async def test_only_the_step_in_progress_can_be_skipped_and_not_while_sending(
    harness: Harness,
) -> None:
    harness.fakes.gate = asyncio.Event()
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await until(harness, handle, lambda s: s.current_step == 1)
    with pytest.raises(WorkflowUpdateFailedError) as not_current:
        await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest(position=2))
    result = asyncio.create_task(handle.result())
    await asyncio.wait_for(harness.fakes.send_started.wait(), timeout=30)
    with pytest.raises(WorkflowUpdateFailedError) as sending:
        await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest())
    harness.fakes.gate.set()

    assert "only the step in progress (step 1)" in str(not_current.value.cause)
    assert "being sent" in str(sending.value.cause)
    assert (await result).status is ProspectStatus.COMPLETED
    assert harness.fakes.positions_sent == [1, 2]


async def test_pause_during_the_grace_delay_sends_nothing_and_resume_takes_a_new_slot(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))  # within the 20-minute grace delay
    await handle.signal(EnrollmentWorkflow.pause)
    await harness.env.sleep(timedelta(hours=6))  # the first step's time passes
    assert harness.fakes.sends == []

    resumed_at = await harness.env.get_current_time()
    await handle.signal(EnrollmentWorkflow.resume)
    final = await handle.result()

    assert harness.fakes.positions_sent == [1, 2]
    first_sent = harness.fakes.sends[0][1]
    assert first_sent >= resumed_at  # not at the slot that passed while paused
    keys = [r.key for r in harness.fakes.reservations]
    assert keys[:2] == ["7:1:1", "7:1:2"]
    assert harness.fakes.releases[0].message_status is MessageStatus.WAITING
    assert final.status is ProspectStatus.COMPLETED


async def test_resuming_after_the_slot_has_passed_gets_a_new_slot_and_sends_once(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=2))
    scheduled = await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    slot = scheduled.steps[1].scheduled_at
    assert slot is not None
    await handle.signal(EnrollmentWorkflow.pause)
    await harness.env.sleep(slot - await harness.env.get_current_time() + timedelta(days=3))

    resumed_at = await harness.env.get_current_time()
    await handle.signal(EnrollmentWorkflow.resume)
    final = await handle.result()

    assert harness.fakes.positions_sent == [1, 2]
    second = harness.fakes.reservations[-1]
    assert second.key == "7:2:2"
    assert second.not_before >= resumed_at
    assert harness.fakes.sends[1][1] >= resumed_at > slot
    assert final.status is ProspectStatus.COMPLETED


async def test_a_manual_task_waits_on_the_to_do_list_until_completed(harness: Harness) -> None:
    handle = await harness.start(
        timedelta(0), timedelta(days=1), timedelta(days=2), manual_tasks=(2,)
    )
    with pytest.raises(WorkflowUpdateFailedError) as too_early:
        await handle.execute_update(EnrollmentWorkflow.complete_task, 2)
    await harness.env.sleep(timedelta(days=1))
    waiting = await until(harness, handle, lambda s: s.steps[1].status is StepStatus.MANUAL_TASK)
    assert waiting.status is ProspectStatus.MANUAL_TASK
    assert waiting.steps[1].scheduled_at is None or waiting.steps[1].scheduled_at <= (
        await harness.env.get_current_time()
    )

    await harness.env.sleep(timedelta(days=10))  # the sequence waits for the user
    assert harness.fakes.positions_sent == [1]
    assert (await state_of(handle)).status is ProspectStatus.MANUAL_TASK

    done = await handle.execute_update(EnrollmentWorkflow.complete_task, 2)
    completed_at = await harness.env.get_current_time()
    final = await handle.result()

    assert "not an open manual task" in str(too_early.value.cause)
    assert done.steps[1].status is StepStatus.SENT  # SeekOut: a completed task shows Sent
    assert harness.fakes.positions_sent == [1, 3]  # the task itself is never emailed
    # The next step's delay runs from the task's completion.
    assert abs(harness.fakes.sends[1][1] - completed_at - timedelta(days=2)) < timedelta(hours=1)
    assert len(harness.fakes.reservations) == 2  # a task takes no mailbox slot
    assert final.status is ProspectStatus.COMPLETED


async def test_a_manual_task_can_be_skipped_and_leaves_the_list_while_paused(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1), manual_tasks=(1,))
    await until(harness, handle, lambda s: s.status is ProspectStatus.MANUAL_TASK)

    await handle.signal(EnrollmentWorkflow.pause)
    paused = await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)
    assert paused.steps[0].status is StepStatus.PENDING
    await handle.signal(EnrollmentWorkflow.resume)
    back = await until(harness, handle, lambda s: s.status is ProspectStatus.MANUAL_TASK)
    assert back.steps[0].status is StepStatus.MANUAL_TASK

    await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest())
    final = await handle.result()

    assert [s.status for s in final.steps] == [StepStatus.SKIPPED, StepStatus.SENT]
    assert harness.fakes.positions_sent == [2]


async def test_a_step_skipped_for_everyone_is_skipped_in_progress_and_when_reached(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))  # step 1 is waiting for its slot

    revised = plans(timedelta(0), timedelta(days=1), timedelta(days=1))
    revised[0].skipped = revised[2].skipped = True
    await handle.signal(EnrollmentWorkflow.revise_steps, revised)
    final = await handle.result()

    assert harness.fakes.positions_sent == [2]
    assert [s.status for s in final.steps] == [
        StepStatus.SKIPPED,
        StepStatus.SENT,
        StepStatus.SKIPPED,
    ]


async def test_steps_edited_while_running_apply_where_the_prospect_has_not_reached_them(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))  # on step 1, in the grace delay

    # Step 2 now waits 5 days, and a third step is appended.
    await handle.signal(
        EnrollmentWorkflow.revise_steps, plans(timedelta(0), timedelta(days=5), timedelta(days=1))
    )
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    # Waiting for step 2 already: its time stays; step 3 (not reached) takes the edit.
    await handle.signal(
        EnrollmentWorkflow.revise_steps, plans(timedelta(0), timedelta(days=9), timedelta(days=3))
    )
    final = await handle.result()

    assert harness.fakes.positions_sent == [1, 2, 3]
    first, second, third = (when for _, when in harness.fakes.sends)
    # Day delays keep the first send's time of day, give or take their jitter.
    assert abs(second - first - timedelta(days=5)) < timedelta(hours=1)
    assert abs(third - second - timedelta(days=3)) < timedelta(hours=1)
    assert final.status is ProspectStatus.COMPLETED
