"""One prospect's sequence in one campaign, as a durable Temporal workflow.

The workflow is the single source of truth for where the sequence stands: it
waits out the grace delay and each step's delay with timers, asks an activity to
send each step, and reacts to pause / resume / stop / reply signals. The
database mirrors its state (through the ``record_state`` activity) for listing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outbound.domain import search_attributes
    from outbound.domain.sequence import (
        EnrollmentInput,
        EnrollmentState,
        ManualReply,
        SendStepRequest,
        SendStepResult,
        StepState,
    )
    from outbound.domain.statuses import ProspectStatus, StepStatus, ThreadMode

SEND_TIMEOUT = timedelta(minutes=2)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30), backoff_coefficient=2.0, maximum_attempts=3
)
RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)

_DONE_STEP = frozenset({StepStatus.SENT, StepStatus.SKIPPED})


@workflow.defn(name="Enrollment")
class EnrollmentWorkflow:
    """Deliver a campaign's steps to one prospect, exactly once each."""

    @workflow.init
    def __init__(self, request: EnrollmentInput) -> None:
        self._request = request
        self._state = request.carried_state or EnrollmentState(
            enrollment_id=request.enrollment_id,
            to_address=request.to_address,
            steps=[StepState(position=step.position) for step in request.steps],
        )
        self._paused = self._state.status is ProspectStatus.PAUSED
        self._changed = False
        self._published_status: ProspectStatus | None = None

    @workflow.run
    async def run(self, request: EnrollmentInput) -> EnrollmentState:
        """Walk the steps; return the final state."""
        if request.to_address is None and not self._is_terminal:
            self._finish(ProspectStatus.FAILED, reason="NoAddress")
        for index, plan in enumerate(request.steps):
            if self._state.steps[index].status in _DONE_STEP:
                continue
            if self._is_terminal:
                break
            if not await self._wait_until_due(index, self._due_time(index, plan.delay)):
                break
            await self._send(index)
        if not self._is_terminal:
            self._finish(ProspectStatus.COMPLETED)
        await self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    @workflow.signal
    def pause(self) -> None:
        """Hold the sequence; nothing is sent until resume."""
        if not self._is_terminal:
            self._paused = True
            self._state.status = ProspectStatus.PAUSED
            self._touch()

    @workflow.signal
    def resume(self) -> None:
        """Continue a paused sequence; a step that came due meanwhile goes out now."""
        if self._paused and not self._is_terminal:
            self._paused = False
            self._state.status = self._running_status()
            self._touch()

    @workflow.signal
    def stop(self) -> None:
        """End the sequence; a send already in flight finishes and is recorded."""
        self._finish(ProspectStatus.STOPPED)

    @workflow.signal
    def mark_replied(self, reply: ManualReply) -> None:
        """The prospect replied: no further message."""
        if self._finish(ProspectStatus.REPLIED):
            self._state.replied_at = reply.received_at or workflow.now()

    @workflow.query
    def state(self) -> EnrollmentState:
        """Live state for the API and operators."""
        return self._state

    # -- waiting ---------------------------------------------------------------------------

    def _due_time(self, index: int, delay: timedelta) -> datetime:
        """Step 1: grace after Start. Later steps: their delay after the previous send."""
        if index == 0:
            return self._request.started_at + self._request.grace
        previous = self._state.steps[index - 1]
        anchor = previous.sent_at or workflow.now()
        return anchor + delay

    async def _wait_until_due(self, index: int, due: datetime) -> bool:
        """Sleep until ``due`` unless paused or ended; False means the sequence ended."""
        step = self._state.steps[index]
        while True:
            if self._is_terminal:
                return False
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            self._changed = False
            if self._paused:
                step.status, step.scheduled_at = StepStatus.PENDING, None
                await self._publish()
                await workflow.wait_condition(lambda: self._changed)
                continue
            # During the grace delay the first step shows Pending (seed 001), with its time.
            in_grace = workflow.now() < self._request.started_at + self._request.grace
            step.status = StepStatus.PENDING if in_grace else StepStatus.SCHEDULED
            step.scheduled_at = due
            self._state.current_step = step.position
            self._state.status = self._running_status()
            await self._publish()
            remaining = due - workflow.now()
            if remaining <= timedelta(0):
                return not self._is_terminal
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=remaining)
            except TimeoutError:
                if not self._changed:
                    return not self._is_terminal

    async def _send(self, index: int) -> None:
        step = self._state.steps[index]
        plan = self._request.steps[index]
        step.status = StepStatus.SENDING
        self._touch()
        assert self._state.to_address is not None
        result = await workflow.execute_activity(
            "send_step",
            SendStepRequest(
                enrollment_id=self._request.enrollment_id,
                position=step.position,
                to_address=self._state.to_address,
                thread_mode=plan.thread_mode,
                previous_message_ids=self._thread_so_far(index),
                scheduled_at=step.scheduled_at,
            ),
            result_type=SendStepResult,
            start_to_close_timeout=SEND_TIMEOUT,
            retry_policy=SEND_RETRY,
        )
        # Workflow time, not the SMTP server's clock: it anchors the next step's delay
        # deterministically (the message log keeps the server-side send time).
        step.status, step.sent_at, step.message_id = (
            StepStatus.SENT,
            workflow.now(),
            result.message_id,
        )
        if not self._is_terminal:
            self._state.status = self._running_status()
        self._touch()

    def _thread_so_far(self, index: int) -> list[str]:
        """Message-IDs of the thread a same-thread step replies in, oldest first."""
        if self._request.steps[index].thread_mode is not ThreadMode.SAME_THREAD:
            return []
        opener = index - 1
        while opener > 0 and self._request.steps[opener].thread_mode is ThreadMode.SAME_THREAD:
            opener -= 1
        return [s.message_id for s in self._state.steps[opener:index] if s.message_id]

    async def _continue_as_new(self) -> None:
        """Hand the state to a fresh run so a long pause/resume history stays bounded."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._request.model_copy(update={"carried_state": self._state}))

    # -- state -----------------------------------------------------------------------------

    @property
    def _is_terminal(self) -> bool:
        return self._state.status.is_terminal

    def _running_status(self) -> ProspectStatus:
        if self._paused:
            return ProspectStatus.PAUSED
        anything_sent = any(s.status is StepStatus.SENT for s in self._state.steps)
        return ProspectStatus.ACTIVE if anything_sent else ProspectStatus.NOT_STARTED

    def _finish(self, status: ProspectStatus, reason: str | None = None) -> bool:
        """Enter a terminal status once; steps not yet sent become Stopped."""
        if self._is_terminal:
            return False
        self._state.status, self._state.reason = status, reason
        if status is not ProspectStatus.COMPLETED:
            for step in self._state.steps:
                if step.status in (StepStatus.PENDING, StepStatus.SCHEDULED):
                    step.status, step.scheduled_at = StepStatus.STOPPED, None
        self._touch()
        return True

    def _touch(self) -> None:
        self._state.updated_at = workflow.now()
        self._changed = True

    async def _publish(self) -> None:
        """Expose the state: search attribute for the UI, database mirror for the API."""
        if self._published_status is not self._state.status:
            workflow.upsert_search_attributes(
                [search_attributes.PROSPECT_STATUS.value_set(self._state.status.value)]
            )
            self._published_status = self._state.status
        self._state.updated_at = workflow.now()
        await workflow.execute_activity(
            "record_state",
            self._state,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )
