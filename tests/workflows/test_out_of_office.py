"""Out of office until a date, in one prospect's workflow (time skipping, stand-in activities).

An auto-reply's return date (the ``out_of_office`` signal, sent by the inbound pipeline)
holds the sequence until the start of the day after it: the step in progress gives its
slot back, the prospect shows Paused with the reason, and then the step takes a new slot
and later steps follow their delays. Resume ends the wait; Stop ends the sequence; SMS
steps and manual tasks wait too. The pipeline's side (which auto-replies carry a date)
is in ``test_out_of_office_over_days``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound.domain.sequence import EnrollmentState, OutOfOffice, StepState
from outbound.domain.statuses import MessageStatus, ProspectStatus, StepKind, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import JITTER, Harness, state_of, until
from tests.workflows.test_sms_steps import SmsFakes, SmsHarness, sms_worker

DAY = timedelta(days=1)


@pytest.fixture
async def texts(time_skipping: WorkflowEnvironment) -> AsyncIterator[SmsHarness]:
    async with sms_worker(time_skipping, SmsFakes(time_skipping.client)) as harness:
        yield harness


def start_of(day: date) -> datetime:
    """The harness's window is UTC: the day's first instant there."""
    return datetime.combine(day, time(0), tzinfo=UTC)


async def back_in(harness: Harness, days: int) -> OutOfOffice:
    """An auto-reply saying the prospect is back in ``days`` days: resume the day after."""
    today = (await harness.env.get_current_time()).date()
    return OutOfOffice(key="<ooo-1@example.com>", resume_on=today + timedelta(days=days + 1))


async def test_an_ooo_with_a_return_date_pauses_until_then(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), 2 * DAY, 2 * DAY)
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    notice = await back_in(harness, 10)

    await handle.signal(EnrollmentWorkflow.out_of_office, notice)
    await handle.signal(EnrollmentWorkflow.out_of_office, notice)  # IMAP and webhook: once
    paused = await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)
    await harness.env.sleep(5 * DAY)  # step 2's own time passes
    meanwhile, sent_meanwhile = await state_of(handle), list(harness.fakes.positions_sent)
    final = await handle.result()

    resumes_at = start_of(notice.resume_on)
    assert paused.reason == f"OutOfOffice until {notice.resume_on.isoformat()}"
    assert paused.steps[1].status is StepStatus.PENDING and paused.steps[1].scheduled_at is None
    assert meanwhile.status is ProspectStatus.PAUSED and sent_meanwhile == [1]
    # Step 2's slot went back (its message Waiting); a new one was taken on the day back.
    released = [(r.key, r.message_status) for r in harness.fakes.releases]
    assert released == [("7:2:1", MessageStatus.WAITING)]
    step_two = [r for r in harness.fakes.reservations if r.position == 2]
    assert [r.key for r in step_two] == ["7:2:1", "7:2:2"]
    assert step_two[1].not_before >= resumes_at
    # Step 2 goes the day after the return; step 3 two days later, at step 1's time of day
    # (counted from the day whose step-1 time of day is nearest step 2's send).
    (_, one_at), (_, two_at), (_, three_at) = harness.fakes.sends
    assert resumes_at <= two_at < resumes_at + timedelta(minutes=1)
    time_of_day = one_at - start_of(one_at.date())
    near = min(
        (start_of(two_at.date() + shift * DAY) + time_of_day for shift in (-1, 0, 1)),
        key=lambda at: abs(at - two_at),
    )
    assert abs(three_at - (near + 2 * DAY)) <= JITTER
    assert (final.status, final.reason, final.out_of_office_until) == (
        ProspectStatus.COMPLETED,
        None,
        None,
    )
    assert final.inbound_keys == [notice.key]


async def test_resume_ends_the_wait_and_stop_ends_the_sequence(harness: Harness) -> None:
    resumed = await harness.start(timedelta(0), 2 * DAY)
    stopped = await harness.start(timedelta(0), 2 * DAY)
    for handle in (resumed, stopped):
        await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
        await handle.signal(EnrollmentWorkflow.out_of_office, await back_in(harness, 20))
        await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)

    await resumed.signal(EnrollmentWorkflow.resume)
    await stopped.signal(EnrollmentWorkflow.stop)
    done, ended = await resumed.result(), await stopped.result()

    sent_two = [(r.enrollment_id, at) for r, at in harness.fakes.sends if r.position == 2]
    assert len(sent_two) == 1  # the resumed one, at its own time, not 20 days on
    assert sent_two[0][1] - harness.started_at < 3 * DAY
    assert (done.status, done.reason) == (ProspectStatus.COMPLETED, None)
    assert ended.status is ProspectStatus.STOPPED
    assert [s.status for s in ended.steps] == [StepStatus.SENT, StepStatus.STOPPED]


async def test_a_user_pause_during_the_wait_is_kept_until_resume(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), 2 * DAY)
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    await handle.signal(EnrollmentWorkflow.out_of_office, await back_in(harness, 3))
    await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)

    await handle.signal(EnrollmentWorkflow.pause)
    await harness.env.sleep(10 * DAY)  # past the return: the user's pause still holds
    held = await state_of(handle)
    await handle.signal(EnrollmentWorkflow.resume)
    final = await handle.result()

    assert (held.status, held.reason) == (ProspectStatus.PAUSED, None)
    assert harness.fakes.positions_sent[1:] == [2] and final.status is ProspectStatus.COMPLETED
    assert harness.fakes.sends[1][1] >= harness.started_at + 10 * DAY


async def test_a_run_continued_as_new_while_out_of_office_waits_on_by_itself(
    harness: Harness,
) -> None:
    now = await harness.env.get_current_time()
    resume_on = now.date() + 5 * DAY
    carried = EnrollmentState(
        enrollment_id=7,
        status=ProspectStatus.PAUSED,
        reason=f"OutOfOffice until {resume_on.isoformat()}",
        current_step=2,
        to_address="ann@example.com",
        steps=[
            StepState(position=1, status=StepStatus.SENT, sent_at=now, message_id="<m7.1@e>"),
            StepState(position=2, due_at=now + DAY),
        ],
        address_checks={"ann@example.com": "valid"},
        out_of_office_until=start_of(resume_on),
        first_sent_at=now,
    )
    handle = await harness.start(timedelta(0), DAY, carried_state=carried)
    final = await handle.result()

    [(request, at)] = harness.fakes.sends
    assert request.position == 2 and at >= start_of(resume_on)
    assert final.status is ProspectStatus.COMPLETED


async def test_an_sms_step_and_a_manual_task_wait_too(texts: SmsHarness) -> None:
    handle = await texts.start((StepKind.EMAIL, timedelta(0)), (StepKind.SMS, 3 * DAY))
    task = await texts.harness.start(timedelta(0), DAY, manual_tasks=(2,))
    await until(texts.harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    await texts.harness.env.sleep(DAY + timedelta(hours=1))  # the task is on the list
    await until(texts.harness, task, lambda s: s.steps[1].status is StepStatus.MANUAL_TASK)
    assert texts.sms.sends == []
    notice = await back_in(texts.harness, 6)
    for each in (handle, task):
        await each.signal(EnrollmentWorkflow.out_of_office, notice)

    off_list = await until(texts.harness, task, lambda s: s.status is ProspectStatus.PAUSED)
    final = await handle.result()
    await texts.harness.env.sleep(start_of(notice.resume_on) - texts.harness.started_at)
    back_on_list = await until(
        texts.harness, task, lambda s: s.steps[1].status is StepStatus.MANUAL_TASK
    )

    [(_, text_at)] = texts.sms.sends
    assert text_at >= start_of(notice.resume_on) and final.status is ProspectStatus.COMPLETED
    assert [r.message_status for r in texts.sms.releases] == [MessageStatus.QUEUED]
    assert off_list.steps[1].status is StepStatus.PENDING
    assert back_on_list.status is ProspectStatus.MANUAL_TASK and back_on_list.reason is None
    assert await texts.harness.env.get_current_time() >= start_of(notice.resume_on)


async def test_a_campaign_paused_and_resumed_during_the_wait_keeps_waiting(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), 2 * DAY)
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)
    notice = await back_in(harness, 10)
    await handle.signal(EnrollmentWorkflow.out_of_office, notice)
    await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)

    # A campaign's Pause and Resume reach every prospect: the user's pause, then its end.
    await handle.signal(EnrollmentWorkflow.pause)
    user_paused = await until(harness, handle, lambda s: s.reason is None)
    await handle.signal(EnrollmentWorkflow.resume)
    waiting = await until(harness, handle, lambda s: s.reason is not None)
    final = await handle.result()

    assert user_paused.status is ProspectStatus.PAUSED
    assert (waiting.status, waiting.reason) == (
        ProspectStatus.PAUSED,
        f"OutOfOffice until {notice.resume_on.isoformat()}",
    )
    assert harness.fakes.sends[1][1] >= start_of(notice.resume_on)
    assert final.status is ProspectStatus.COMPLETED
