"""One prospect's sequence in one campaign, as a durable Temporal workflow.

The workflow is the single source of truth for where the sequence stands. For
each step it works out when the step is due (when-to-send rules, pure code),
reserves a mailbox slot at or after that time (an activity: limits are shared
by every campaign of the mailbox), sleeps until the slot, and asks an activity
to send. Pause, stop and reply give the slot back; resume takes a new one; a
send refused because it missed its slot takes a new one too. The database
mirrors the state (``record_state``) for listing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from outbound.domain import search_attributes
    from outbound.domain.sequence import (
        EnrollmentInput,
        EnrollmentState,
        ManualReply,
        ReleaseSlotRequest,
        ReserveSlotRequest,
        SendStepRequest,
        SendStepResult,
        StepState,
    )
    from outbound.domain.statuses import MessageStatus, ProspectStatus, StepStatus, ThreadMode
    from outbound.scheduling.when_to_send import first_send, follow_up

SEND_TIMEOUT = timedelta(minutes=5)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_attempts=3,
    non_retryable_error_types=["SlotMissed"],
)
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)

RATE_LIMIT_PAUSE = timedelta(hours=1)
_TAKE_NEW_SLOT = frozenset({"SlotMissed", "rate_limited"})
_FAILURE_REASONS = {
    "transient": "TooManyRetries",
    "auth_failed": "MailboxDisconnected",
    "sender_policy": "MailboxPolicy",
    "mailbox_full": "MailboxFull",
    "spam": "Spam",
    "failed": "Rejected",
    "unknown": "Unconfirmed",
}
_DONE_STEP = frozenset({StepStatus.SENT, StepStatus.SKIPPED, StepStatus.CANCELED})
_CANCELABLE = frozenset({StepStatus.PENDING, StepStatus.SCHEDULED})


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
        self._cancel_position: int | None = None
        self._changed = False
        self._published_status: ProspectStatus | None = None

    @workflow.run
    async def run(self, request: EnrollmentInput) -> EnrollmentState:
        """Walk the steps; return the final state."""
        if request.to_address is None and not self._is_terminal:
            self._finish(ProspectStatus.FAILED, reason="NoAddress")
        for index in range(len(request.steps)):
            if self._state.steps[index].status in _DONE_STEP:
                continue
            if self._is_terminal or not await self._deliver(index):
                break
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
        """Continue a paused sequence; a step that came due meanwhile gets a new slot."""
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

    @workflow.update
    async def cancel_message(self, position: int) -> EnrollmentState:
        """Cancel the scheduled message of step ``position``; the sequence moves on without it."""
        self._cancel_position = position
        self._touch()
        step = self._state.steps[position - 1]
        await workflow.wait_condition(
            lambda: step.status is StepStatus.CANCELED or self._is_terminal
        )
        return self._state

    @cancel_message.validator
    def _check_cancel(self, position: int) -> None:
        """Only the message waiting for its slot can be canceled (not one being sent)."""
        if self._is_terminal:
            raise ApplicationError(f"the sequence has already ended ({self._state.status})")
        if not 1 <= position <= len(self._state.steps):
            raise ApplicationError(f"there is no step {position}")
        step = self._state.steps[position - 1]
        if step.status is StepStatus.SENDING:
            raise ApplicationError(f"step {position} is being sent and can no longer be canceled")
        if step.status not in _CANCELABLE or position != self._state.current_step:
            raise ApplicationError(f"step {position} has no scheduled message ({step.status})")

    @workflow.query
    def state(self) -> EnrollmentState:
        """Live state for the API and operators."""
        return self._state

    # -- one step ----------------------------------------------------------------------------

    async def _deliver(self, index: int) -> bool:
        """Reserve a slot, wait for it, send. False means the sequence ended first."""
        step = self._state.steps[index]
        if step.due_at is None:
            step.due_at = self._due_time(index)
        while True:
            self._changed = False
            if self._is_terminal:
                await self._release(step, MessageStatus.CANCELED)
                return False
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._cancel_position == step.position:
                self._cancel_position = None
                await self._release(step, MessageStatus.CANCELED)
                step.status = StepStatus.CANCELED
                await self._publish()
                return True
            if self._paused:
                await self._release(step, MessageStatus.WAITING)
                step.status = StepStatus.PENDING
                await self._publish()
                await workflow.wait_condition(lambda: self._changed)
                continue
            if step.slot_key is None:
                await self._reserve(step, not_before=max(step.due_at, workflow.now()))
                continue  # signals may have arrived meanwhile
            slot = step.scheduled_at
            assert slot is not None
            self._show_scheduled(step)
            await self._publish()
            # A signal during the publish (e.g. stop) may have changed everything.
            if not await self._sleep_until(slot):
                continue
            try:
                await self._send(index)
            except ActivityError as error:
                failure = _failure_type(error)
                if failure == "hard_bounce" and (following := self._next_address()) is not None:
                    # Same step, next allowed address (the bounced one's log row stays Bounced).
                    await self._release(step, None)
                    self._state.bounced_addresses.append(self._state.to_address or "")
                    self._state.to_address = following
                    continue
                if failure in _TAKE_NEW_SLOT:
                    # Missed slot, or the provider's rate limit: not a failed attempt.
                    await self._release(step, None)
                    if failure == "rate_limited":
                        step.due_at = workflow.now() + RATE_LIMIT_PAUSE
                    continue
                self._fail_step(step, failure, error)
                return False
            return True

    def _next_address(self) -> str | None:
        """The next address the campaign allows that has not bounced yet."""
        tried = {*self._state.bounced_addresses, self._state.to_address}
        return next((a for a in self._request.fallback_addresses if a not in tried), None)

    def _fail_step(self, step: StepState, failure: str, error: ActivityError) -> None:
        """End the sequence with the status and reason the failure calls for."""
        detail = (
            str(error.cause.message) if isinstance(error.cause, ApplicationError) else str(error)
        )
        step.status, step.reason = StepStatus.FAILED, detail
        if failure == "hard_bounce":
            self._state.bounced_addresses.append(self._state.to_address or "")
            self._finish(ProspectStatus.BOUNCED, reason=f"Bounced: {detail}")
        else:
            self._finish(ProspectStatus.FAILED, reason=_FAILURE_REASONS.get(failure, failure))

    def _due_time(self, index: int) -> datetime:
        """When-to-send time of a step (before windows and limits), with its 0–20 min jitter."""
        schedule, zone_name = self._request.schedule, self._request.schedule.window.zone_name
        jitter = workflow.random().random()
        first = first_send(
            self._request.started_at,
            self._request.grace,
            schedule.when_to_send,
            zone_name,
            jitter,
            schedule.specific_time,
        )
        if index == 0:
            return first.due
        previous = self._state.steps[index - 1].sent_at or workflow.now()
        anchor = self._state.first_sent_at or previous
        delay = self._request.steps[index].delay
        return follow_up(previous, anchor, delay, first.follow_up, zone_name, jitter)

    def _show_scheduled(self, step: StepState) -> None:
        # During the grace delay the first step shows Pending (seed 001), with its time.
        in_grace = workflow.now() < self._request.started_at + self._request.grace
        step.status = StepStatus.PENDING if in_grace else StepStatus.SCHEDULED
        self._state.current_step = step.position
        self._state.status = self._running_status()

    async def _sleep_until(self, moment: datetime) -> bool:
        """True when ``moment`` is reached; False if something changed first."""
        remaining = moment - workflow.now()
        if remaining <= timedelta(0):
            return not self._changed
        try:
            await workflow.wait_condition(lambda: self._changed, timeout=remaining)
        except TimeoutError:
            return not self._changed
        return False

    async def _reserve(self, step: StepState, not_before: datetime) -> None:
        assert self._state.to_address is not None
        step.reservations += 1
        key = f"{self._request.enrollment_id}:{step.position}:{step.reservations}"
        step.scheduled_at = await workflow.execute_activity(
            "reserve_slot",
            ReserveSlotRequest(
                key=key,
                enrollment_id=self._request.enrollment_id,
                position=step.position,
                mailbox_id=self._request.mailbox_id,
                to_address=self._state.to_address,
                not_before=not_before,
                window=self._request.schedule.window,
            ),
            result_type=datetime,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        step.slot_key = key

    async def _release(self, step: StepState, message_status: MessageStatus | None) -> None:
        if step.slot_key is None:
            return
        await workflow.execute_activity(
            "release_slot",
            ReleaseSlotRequest(
                key=step.slot_key,
                enrollment_id=self._request.enrollment_id,
                position=step.position,
                to_address=self._state.to_address or "",
                message_status=message_status,
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        step.slot_key, step.scheduled_at = None, None

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
                slot_key=step.slot_key,
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
        if index == 0:
            self._state.first_sent_at = step.sent_at
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

    # -- state -------------------------------------------------------------------------------

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
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )


def _failure_type(error: ActivityError) -> str:
    """The classified outcome (or SlotMissed) an activity failed with."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return "transient"
