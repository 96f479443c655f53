"""The ``colleague_ended`` signal in one prospect's workflow (time skipping, stand-in
activities): a pause acts once, however often a retried write repeats it; a sequence that
has ended, or has no rule to follow, is left as it is."""

from __future__ import annotations

from datetime import timedelta

from outbound.domain.company_rules import ColleagueEnded, CompanyRule
from outbound.domain.statuses import ProspectStatus, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import Harness, state_of, until

DAY = timedelta(days=1)
PAUSE = ColleagueEnded(key="9:Replied", ended_as=ProspectStatus.REPLIED, rule=CompanyRule.PAUSE)


async def test_a_colleague_pause_acts_once_and_resume_goes_on(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), 2 * DAY)
    await until(harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)

    await handle.signal(EnrollmentWorkflow.colleague_ended, PAUSE)
    paused = await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)
    await handle.signal(EnrollmentWorkflow.resume)
    resumed = await until(harness, handle, lambda s: s.status is not ProspectStatus.PAUSED)
    await handle.signal(EnrollmentWorkflow.colleague_ended, PAUSE)  # the same ending again
    no_rule = PAUSE.model_copy(update={"key": "10:Completed", "rule": CompanyRule.OFF})
    await handle.signal(EnrollmentWorkflow.colleague_ended, no_rule)
    final = await handle.result()

    assert (paused.status, paused.reason) == (ProspectStatus.PAUSED, "ColleagueReplied")
    assert paused.steps[1].status is StepStatus.PENDING
    assert (resumed.status, resumed.reason) == (ProspectStatus.ACTIVE, None)
    assert harness.fakes.positions_sent == [1, 2]
    assert (final.status, final.reason, final.colleague_keys) == (
        ProspectStatus.COMPLETED,
        None,
        ["9:Replied"],
    )


async def test_an_ended_sequence_is_left_as_it_is(harness: Harness) -> None:
    handle = await harness.start(timedelta(0))
    done = await until(harness, handle, lambda s: s.status is ProspectStatus.COMPLETED)
    stop = PAUSE.model_copy(update={"rule": CompanyRule.STOP})

    await handle.signal(EnrollmentWorkflow.colleague_ended, stop)
    after = await state_of(handle)

    assert done.steps[0].status is StepStatus.SENT
    assert (after.status, after.reason) == (ProspectStatus.COMPLETED, None)
