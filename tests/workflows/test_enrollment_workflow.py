"""The enrollment workflow under time skipping, with stand-in activities (Temporal's idiom).

Each test starts one prospect's sequence and checks what a user would see:
when messages go out, what pause / resume / stop / reply do, and the live
state and search attributes operators filter on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain import search_attributes
from outbound.domain.schedule import ScheduleSpec, WindowSpec
from outbound.domain.sequence import (
    EnrollmentInput,
    EnrollmentState,
    ManualReply,
    ReleaseSlotRequest,
    ReserveSlotRequest,
    SendStepRequest,
    SendStepResult,
    StepPlan,
)
from outbound.domain.statuses import MessageStatus, ProspectStatus, StepStatus, ThreadMode
from outbound.workflows.enrollment import EnrollmentWorkflow

GRACE = timedelta(minutes=20)
ALWAYS_OPEN = WindowSpec(zone_name="UTC", weekdays=list(range(7)), start=time(0), end=time(0))
JITTER = timedelta(minutes=20)


@dataclass
class FakeActivities:
    """Records sends (with server time) and mirrored states instead of doing I/O."""

    sends: list[tuple[SendStepRequest, datetime]] = field(default_factory=list)
    recorded: list[EnrollmentState] = field(default_factory=list)
    reservations: list[ReserveSlotRequest] = field(default_factory=list)
    releases: list[ReleaseSlotRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None
    send_started: asyncio.Event = field(default_factory=asyncio.Event)
    record_gate: asyncio.Event | None = None
    failures: list[str] = field(default_factory=list)
    attempts: list[tuple[int, datetime]] = field(default_factory=list)
    recording_active: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name="send_step")
    async def send_step(self, request: SendStepRequest) -> SendStepResult:
        self.send_started.set()
        if self.gate is not None:
            await self.gate.wait()
        when = activity.info().current_attempt_scheduled_time
        self.attempts.append((request.position, when))
        if self.failures:
            outcome = self.failures.pop(0)
            raise ApplicationError(
                f"{outcome} as scripted", type=outcome, non_retryable=outcome != "transient"
            )
        self.sends.append((request, when))
        return SendStepResult(
            message_id=f"<m{request.enrollment_id}.{request.position}@example.com>",
            subject="s",
            sent_at=when,
        )

    @activity.defn(name="record_state")
    async def record_state(self, state: EnrollmentState) -> None:
        self.recorded.append(state.model_copy(deep=True))
        if self.record_gate is not None and state.status is ProspectStatus.ACTIVE:
            self.recording_active.set()
            await self.record_gate.wait()

    @activity.defn(name="reserve_slot")
    async def reserve_slot(self, request: ReserveSlotRequest) -> datetime:
        """No other senders: every step gets the slot it asks for."""
        self.reservations.append(request)
        return request.not_before

    @activity.defn(name="release_slot")
    async def release_slot(self, request: ReleaseSlotRequest) -> None:
        self.releases.append(request)

    @property
    def all(self) -> list[object]:
        return [self.send_step, self.record_state, self.reserve_slot, self.release_slot]

    @property
    def positions_sent(self) -> list[int]:
        return [request.position for request, _ in self.sends]


@dataclass
class Harness:
    env: WorkflowEnvironment
    fakes: FakeActivities
    task_queue: str
    started_at: datetime = datetime.min

    async def start(
        self, *delays: timedelta, to_address: str | None = "ann@example.com", **overrides: object
    ) -> WorkflowHandle[EnrollmentWorkflow, EnrollmentState]:
        now = self.started_at = await self.env.get_current_time()
        steps = [
            StepPlan(
                step_id=i + 1,
                position=i + 1,
                delay=delay,
                thread_mode=ThreadMode.NEW_THREAD if i == 0 else ThreadMode.SAME_THREAD,
            )
            for i, delay in enumerate(delays)
        ]
        request = EnrollmentInput(
            enrollment_id=7,
            campaign_id=3,
            prospect_id=11,
            mailbox_id=2,
            started_at=now,
            grace=GRACE,
            steps=steps,
            to_address=to_address,
            schedule=ScheduleSpec(window=ALWAYS_OPEN),
        ).model_copy(update=overrides)
        return await self.env.client.start_workflow(
            EnrollmentWorkflow.run,
            request,
            id=f"campaign-3-prospect-11-{uuid.uuid4()}",
            task_queue=self.task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search_attributes.CAMPAIGN_ID, "3"),
                    SearchAttributePair(search_attributes.MAILBOX_ID, "2"),
                    SearchAttributePair(search_attributes.PROSPECT_STATUS, "NotStarted"),
                ]
            ),
        )


@pytest.fixture
async def harness(time_skipping: WorkflowEnvironment) -> AsyncIterator[Harness]:
    fakes = FakeActivities()
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[EnrollmentWorkflow],
        activities=fakes.all,
        workflow_failure_exception_types=[Exception],
    ):
        yield Harness(time_skipping, fakes, task_queue)


async def state_of(handle: WorkflowHandle[EnrollmentWorkflow, EnrollmentState]) -> EnrollmentState:
    return await handle.query(EnrollmentWorkflow.state)


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


async def test_two_transient_failures_then_success_sends_once(harness: Harness) -> None:
    harness.fakes.failures = ["transient", "transient"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    assert [p for p, _ in harness.fakes.attempts] == [1, 1, 1]
    assert harness.fakes.positions_sent == [1]
    assert final.status is ProspectStatus.COMPLETED


async def test_three_transient_failures_fail_the_step_with_too_many_retries(
    harness: Harness,
) -> None:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 3 and harness.fakes.sends == []
    assert (final.status, final.reason) == (ProspectStatus.FAILED, "TooManyRetries")
    assert [s.status for s in final.steps] == [StepStatus.FAILED, StepStatus.STOPPED]


async def test_a_hard_bounce_ends_the_prospect_bounced_without_retrying(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce"]
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 1
    assert final.status is ProspectStatus.BOUNCED
    assert final.reason is not None and "hard_bounce as scripted" in final.reason


async def test_a_bounce_sends_the_same_step_to_the_next_allowed_address(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce"]
    handle = await harness.start(
        timedelta(0), timedelta(days=1), fallback_addresses=["ann@work.example.com"]
    )

    final = await handle.result()

    assert [(r.position, r.to_address) for r, _ in harness.fakes.sends] == [
        (1, "ann@work.example.com"),
        (2, "ann@work.example.com"),
    ]
    assert final.status is ProspectStatus.COMPLETED
    assert final.bounced_addresses == ["ann@example.com"]
    released = harness.fakes.releases[0]
    assert (released.to_address, released.message_status) == ("ann@example.com", None)


async def test_a_bounce_with_every_allowed_address_tried_ends_bounced(harness: Harness) -> None:
    harness.fakes.failures = ["hard_bounce", "hard_bounce"]
    handle = await harness.start(timedelta(0), fallback_addresses=["ann@work.example.com"])

    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.BOUNCED
    assert final.bounced_addresses == ["ann@example.com", "ann@work.example.com"]


async def test_an_unknown_outcome_is_never_resent(harness: Harness) -> None:
    harness.fakes.failures = ["unknown"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    assert len(harness.fakes.attempts) == 1
    assert (final.status, final.reason) == (ProspectStatus.FAILED, "Unconfirmed")


async def test_a_rate_limit_answer_defers_to_a_new_slot_without_counting_a_failure(
    harness: Harness,
) -> None:
    harness.fakes.failures = ["rate_limited"]
    handle = await harness.start(timedelta(0))

    final = await handle.result()

    (_, refused_at), (_, sent_at) = harness.fakes.attempts
    assert sent_at - refused_at >= timedelta(hours=1)
    assert [r.key for r in harness.fakes.reservations] == ["7:1:1", "7:1:2"]
    assert final.status is ProspectStatus.COMPLETED


async def test_prospect_without_an_address_fails_with_no_address_and_no_send(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), to_address=None)
    final = await handle.result()

    assert harness.fakes.sends == []
    assert final.status is ProspectStatus.FAILED
    assert final.reason == "NoAddress"


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
