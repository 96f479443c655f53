"""Stand-in activities and a starter for one prospect's workflow under time skipping.

Temporal's idiom for workflow unit tests: the activities record what they were
asked and answer as scripted, so a test can check what a user would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from outbound.domain import search_attributes
from outbound.domain.schedule import ScheduleSpec, WindowSpec
from outbound.domain.sequence import (
    ENROLLMENT_WORKFLOW,
    AddressCheckRequest,
    AddressVerdict,
    EnrollmentInput,
    EnrollmentState,
    ReleaseSlotRequest,
    ReserveSlotRequest,
    SendFailure,
    SendStepRequest,
    SendStepResult,
    StepPlan,
)
from outbound.domain.statuses import ProspectStatus, StepKind, ThreadMode
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
    failures: list[str | tuple[str, SendFailure]] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
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
            scripted = self.failures.pop(0)
            outcome, details = scripted if isinstance(scripted, tuple) else (scripted, None)
            raise ApplicationError(
                f"{outcome} as scripted",
                *([details] if details else []),
                type=outcome,
                non_retryable=outcome != "transient",
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

    @activity.defn(name="check_address")
    async def check_address(self, request: AddressCheckRequest) -> AddressVerdict:
        self.checked.append(request.address)
        reason = self.invalid.get(request.address)
        return AddressVerdict(
            address=request.address, usable=reason is None, note=reason or "valid"
        )

    @property
    def all(self) -> list[object]:
        return [
            self.send_step,
            self.record_state,
            self.reserve_slot,
            self.release_slot,
            self.check_address,
        ]

    @property
    def positions_sent(self) -> list[int]:
        return [request.position for request, _ in self.sends]


@dataclass
class Harness:
    env: WorkflowEnvironment
    fakes: FakeActivities
    task_queue: str
    started_at: datetime = datetime.min
    started: list[WorkflowHandle[EnrollmentWorkflow, EnrollmentState]] = field(default_factory=list)

    async def close(self) -> None:
        """End what this test left running (a sequence still watching for a late bounce):
        once its worker is gone, a timer of such a run that fires would hold the shared
        server's time skipping for every later test."""
        for handle in self.started:
            with contextlib.suppress(RPCError):
                await handle.terminate("the test is over")

    async def start(
        self,
        *delays: timedelta,
        to_address: str | None = "ann@example.com",
        manual_tasks: tuple[int, ...] = (),
        workflow_type: str = ENROLLMENT_WORKFLOW,
        **overrides: object,
    ) -> WorkflowHandle[EnrollmentWorkflow, EnrollmentState]:
        """One prospect's sequence of steps ``delays`` apart; ``manual_tasks`` names positions.

        ``workflow_type`` "Enrollment" starts one as runs from before the current type were."""
        now = self.started_at = await self.env.get_current_time()
        steps = plans(*delays, manual_tasks=manual_tasks)
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
        handle = await self.env.client.start_workflow(
            workflow_type,
            request,
            result_type=EnrollmentState,
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
        self.started.append(handle)
        return handle


def plans(*delays: timedelta, manual_tasks: tuple[int, ...] = ()) -> list[StepPlan]:
    """Step plans ``delays`` apart; follow-ups reply in the thread; ``manual_tasks`` by position."""
    return [
        StepPlan(
            step_id=i + 1,
            position=i + 1,
            delay=delay,
            thread_mode=ThreadMode.NEW_THREAD if i == 0 else ThreadMode.SAME_THREAD,
            kind=StepKind.MANUAL_TASK if i + 1 in manual_tasks else StepKind.EMAIL,
        )
        for i, delay in enumerate(delays)
    ]


async def next_midnight(env: WorkflowEnvironment) -> datetime:
    """The next 00:00 UTC on the server's clock (its time of day differs from test to test)."""
    now = await env.get_current_time()
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


async def until(
    harness: Harness,
    handle: WorkflowHandle[EnrollmentWorkflow, EnrollmentState],
    condition: Callable[[EnrollmentState], bool],
) -> EnrollmentState:
    """Skip time a minute at a time until the workflow's state satisfies ``condition``."""
    for _ in range(600):
        state = await state_of(handle)
        if condition(state):
            return state
        await harness.env.sleep(timedelta(minutes=1))
    raise AssertionError(f"never reached; last state {state}")


async def state_of(handle: WorkflowHandle[EnrollmentWorkflow, EnrollmentState]) -> EnrollmentState:
    return await handle.query(EnrollmentWorkflow.state)
