"""One prospect's sequence in one campaign, as a durable Temporal workflow.

The workflow is the single source of truth for where the sequence stands. For
each step it works out when the step is due (when-to-send rules, pure code),
checks the address once (syntax, mail servers, suppression list), reserves a
mailbox slot at or after that time (an activity: limits are shared by every
campaign of the mailbox), sleeps until the slot, and asks an activity to send.
Pause, stop and reply give the slot back; resume takes a new one; a send
refused because it missed its slot takes a new one too. A manual-task step
takes no slot: at its time it goes on the user's to-do list and the sequence
waits until the task is completed or skipped. The database mirrors the state
(``record_state``) for listing.

What a failed send leads to (PRODUCT.md rule 8): a hard bounce moves the step
to the next allowed address, else Bounced; a provider rate limit defers it; a
full mailbox is tried again daily, then treated as a bounce; a mailbox that
needs re-authentication parks the sequence until it is reconnected; anything
else is Failed with its reason, and the step waits for a manual Retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from outbound.domain import search_attributes
    from outbound.domain.sequence import (
        ENROLLMENT_WORKFLOW,
        AddressCheckRequest,
        AddressVerdict,
        EnrollmentInput,
        EnrollmentState,
        FailureType,
        InboundReply,
        LateBounce,
        ManualReply,
        ReleaseSlotRequest,
        ReserveSlotRequest,
        RetryRequest,
        SendFailure,
        SendStepRequest,
        SendStepResult,
        SkipRequest,
        StepPlan,
        StepState,
    )
    from outbound.domain.statuses import (
        MessageStatus,
        ProspectStatus,
        StepKind,
        StepStatus,
        ThreadMode,
    )
    from outbound.scheduling.when_to_send import first_send, follow_up

from outbound.workflows.colleagues import ColleagueRules  # workflow code, like SmsSteps
from outbound.workflows.out_of_office import OutOfOfficeSteps  # workflow code, like SmsSteps
from outbound.workflows.sms_steps import SmsSteps  # workflow code: checked in the sandbox
from outbound.workflows.store_calls import STORE_RETRY, STORE_TIMEOUT

SEND_TIMEOUT = timedelta(minutes=5)
SEND_HEARTBEAT = timedelta(seconds=30)  # a crashed worker's send is retried this soon
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_attempts=3,
    non_retryable_error_types=[FailureType.SLOT_MISSED],
)
CHECK_TIMEOUT = timedelta(minutes=1)

RATE_LIMIT_PAUSE = timedelta(hours=1)
MAILBOX_FULL_RETRY = timedelta(days=1)
MAILBOX_FULL_TRIES = 3
RETRY_WINDOW = timedelta(days=30)
LATE_BOUNCE_WINDOW = timedelta(days=3)  # bounces by mail come within minutes to a few days
INBOUND_KEYS_KEPT = 50
ADDRESS_CHECK_PATCH = "check-address-before-first-send"
LATE_BOUNCE_PATCH = "wait-for-late-bounces-after-the-last-step"
LOCAL_STORE_PATCH = "store-writes-as-local-activities"
AFTER_LAST_STEP_PATCH = "reply-or-opt-out-after-the-last-step-shows"
LOCAL_WRITES_PATCH = "sequence-writes-as-local-activities"
MIRROR_STATUS_PATCH = "mirror-a-new-status-before-a-send-due-at-once"
NEAREST_ANCHOR_PATCH = "count-follow-up-days-from-the-nearest-time-of-day"
T = TypeVar("T")
SLOT_DUE_SOON = timedelta(seconds=10)  # a slot this close is sent at once; send_step waits for it
_PARKS_MAILBOX = frozenset({"auth_failed", "sender_policy", FailureType.MAILBOX_PARKED})
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
_SKIPPABLE = frozenset(
    {StepStatus.PENDING, StepStatus.SCHEDULED, StepStatus.MANUAL_TASK, StepStatus.FAILED}
)
_UNFINISHED = frozenset({StepStatus.PENDING, StepStatus.SCHEDULED, StepStatus.MANUAL_TASK})
MARKED_FINISHED = "MarkedFinished"


@workflow.defn(name=ENROLLMENT_WORKFLOW)
class EnrollmentWorkflow(SmsSteps, OutOfOfficeSteps, ColleagueRules):
    """Deliver a campaign's steps to one prospect, exactly once each (SMS steps: ``SmsSteps``;
    the wait for an out-of-office prospect's return: ``OutOfOfficeSteps``; company rules:
    ``ColleagueRules``).

    Every change made with ``workflow.patched`` up to this workflow type is
    built in: its runs record no patch markers, and Temporal's core writes no
    ``TemporalChangeVersion`` search attribute for them. Runs started before
    (type ``Enrollment``) go on with ``PatchedEnrollmentWorkflow`` below. Later
    changes to this class need ``workflow.patched`` again (not ``_patched``).
    """

    # Two writes the type "Enrollment" made and this one does not (its runs replay with them):
    # the status search attribute the start already set, and the database mirror just
    # before a send that goes at once (the message log shows it Waiting for its slot),
    # unless the status changed since the last mirror (``_mirrors_before_send``).
    _REPEATS_WRITES = False

    @workflow.init
    def __init__(self, request: EnrollmentInput) -> None:
        self._request = request
        self._state = request.carried_state or EnrollmentState(
            enrollment_id=request.enrollment_id,
            to_address=request.to_address,
            steps=[StepState(position=step.position) for step in request.steps],
        )
        self._paused = self._paused_by_user()
        self._cancel_position: int | None = None
        self._skip_position: int | None = None
        self._task_done: int | None = None
        self._rewind_to: int | None = None
        self._retry: RetryRequest | None = None
        self._changed = False
        self._published_status: ProspectStatus | None = (
            None if request.carried_state or self._REPEATS_WRITES else self._state.status
        )

    @workflow.run
    async def run(self, request: EnrollmentInput) -> EnrollmentState:
        """Walk the steps; return the final state."""
        await self._await_company_turn()
        index = 0
        while True:
            while index < len(self._request.steps):  # steps appended while running count too
                done = self._state.steps[index].status in _DONE_STEP
                if not done and (self._is_terminal or not await self._deliver(index)):
                    break
                if self._rewind_to is not None:  # a late bounce: this step again, elsewhere
                    index = self._rewind()
                    continue
                index += 1
            if not self._is_terminal and self._state.status is not ProspectStatus.FAILED:
                self._finish(ProspectStatus.COMPLETED)
            await self._publish()
            if self._completed_normally and await self._bounced_after_completion():
                index = self._rewind()
                continue
            break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    @workflow.signal
    def pause(self) -> None:
        """Hold the sequence; nothing is sent until resume."""
        if not self._state.status.is_settled:
            self._paused = True
            self._state.status = ProspectStatus.PAUSED
            self._pause_over_out_of_office()
            self._touch()

    @workflow.signal
    def resume(self) -> None:
        """Continue a paused sequence (or one out of office); a step that came due meanwhile
        gets a new slot."""
        if self._paused and not self._state.status.is_settled:
            self._paused = False
            self._state.status = self._running_status()
            self._end_colleague_pause()
            self._touch()
        else:
            self._resume_out_of_office()

    @workflow.signal
    def stop(self) -> None:
        """End the sequence; a send already in flight finishes and is recorded."""
        self._finish(ProspectStatus.STOPPED)

    @workflow.signal
    def opt_out(self) -> None:
        """The recipient unsubscribed (this or another campaign's message): nothing more.

        Also after the last step, while late bounces are awaited: it shows OptedOut.
        """
        self._end_even_if_completed(ProspectStatus.OPTED_OUT)

    @workflow.signal
    def mark_finished(self) -> None:
        """The user marks the prospect finished: Completed, history kept, nothing more sent."""
        self._finish(ProspectStatus.COMPLETED, reason=MARKED_FINISHED)

    @workflow.signal
    def remove(self) -> None:
        """The user removed the prospect from the campaign: nothing more is sent."""
        self._finish(ProspectStatus.REMOVED)

    @workflow.signal
    def revise_steps(self, plans: list[StepPlan]) -> None:
        """The campaign's steps were edited: steps this prospect has not reached follow ``plans``.

        Steps already reached keep their plan; only their skip-for-everyone flag
        changes. Should an edit reach a step this prospect had just reached (a
        race the API's check narrows), the reached steps stay as they are and
        only skip flags apply, so a sent step is never renumbered.
        """
        if self._is_terminal:
            return
        reached = self._state.current_step
        by_id = {plan.step_id: plan for plan in plans}
        steps = [
            plan.model_copy(update={"skipped": by_id[plan.step_id].skipped})
            if plan.step_id in by_id
            else plan
            for plan in self._request.steps
        ]
        if [p.step_id for p in plans[:reached]] == [p.step_id for p in steps[:reached]]:
            steps = steps[:reached] + plans[reached:]
            self._state.steps = self._state.steps[:reached] + [
                StepState(position=plan.position) for plan in plans[reached:]
            ]
        self._request = self._request.model_copy(update={"steps": steps})
        self._touch()

    @workflow.signal
    def reply_received(self, reply: InboundReply) -> None:
        """Inbox sync or the webhook matched a reply: no further message (Replied).

        A reply to the last step, while the sequence waits out late bounces,
        turns Completed into Replied: that is what the user wants to see.
        """
        if self._first_time(reply.key) and self._end_even_if_completed(ProspectStatus.REPLIED):
            self._state.replied_at = reply.received_at or workflow.now()
            self._state.reply_snippet = reply.snippet[:200] or None

    @workflow.signal
    def late_bounce(self, bounce: LateBounce) -> None:
        """A message the server accepted bounced later (hard): suppressed by the pipeline; the
        same step goes to the next allowed address, or the prospect ends Bounced."""
        if not self._first_time(bounce.key):
            return
        step = next((s for s in self._state.steps if s.message_id == bounce.message_id), None)
        if step is None or (self._is_terminal and not self._completed_normally):
            return
        if bounce.address in self._state.bounced_addresses:
            return
        self._state.bounced_addresses.append(bounce.address)
        step.reason = f"Bounced: {bounce.reason}"
        if self._state.to_address == bounce.address:
            following = self._next_address()
            if following is None:
                self._state.status, self._state.reason = (
                    ProspectStatus.BOUNCED,
                    f"Bounced: {bounce.reason}",
                )
                for later in self._state.steps:
                    if later.status in _UNFINISHED:
                        later.status, later.scheduled_at = StepStatus.STOPPED, None
            else:
                self._state.to_address = following
                earlier = self._rewind_to or step.position
                self._rewind_to = min(earlier, step.position)
        self._touch()

    @workflow.signal
    def mark_replied(self, reply: ManualReply) -> None:
        """The prospect replied: no further message."""
        if self._finish(ProspectStatus.REPLIED):
            self._state.replied_at = reply.received_at or workflow.now()

    @workflow.signal
    def mailbox_reconnected(self, version: int) -> None:
        """The mailbox was reconnected (connection ``version``): a parked send may go on."""
        if version > self._state.mailbox_version:
            self._state.mailbox_version = version
            self._touch()

    @workflow.signal
    def change_address(self, address: str) -> None:
        """Use ``address`` for this prospect in this campaign from the next send on."""
        if self._is_terminal:
            return
        self._state.override_address = address
        if address in self._state.invalid_addresses:
            self._state.invalid_addresses.remove(address)
        self._state.address_checks.pop(address, None)
        self._state.to_address = address
        self._touch()

    @workflow.update
    async def retry(self, request: RetryRequest) -> EnrollmentState:
        """Resume a Failed step (optionally sending even to addresses the check refused)."""
        self._retry = request
        self._touch()
        await workflow.wait_condition(lambda: self._retry is None or self._is_terminal)
        return self._state

    @retry.validator
    def _check_retry(self, request: RetryRequest) -> None:
        """Only a Failed step that still waits for a Retry can be retried."""
        if self._state.status is not ProspectStatus.FAILED or not self._state.awaiting_retry:
            raise ApplicationError(
                f"only a Failed prospect can be retried (this one is {self._state.status})"
            )

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

    @workflow.update
    async def skip_step(self, request: SkipRequest) -> EnrollmentState:
        """Skip the step in progress (waiting, a manual task, or Failed); the sequence moves on."""
        position = request.position or self._state.current_step
        self._skip_position = position
        self._touch()
        step = self._state.steps[position - 1]
        await workflow.wait_condition(
            lambda: step.status is StepStatus.SKIPPED or self._is_terminal
        )
        return self._state

    @skip_step.validator
    def _check_skip(self, request: SkipRequest) -> None:
        """Only the step in progress can be skipped, and not while it is being sent."""
        if self._is_terminal:
            raise ApplicationError(f"the sequence has already ended ({self._state.status})")
        current = self._state.current_step
        if current == 0:
            raise ApplicationError("the sequence has not reached its first step yet; try again")
        position = request.position or current
        if position != current or not 1 <= position <= len(self._state.steps):
            raise ApplicationError(
                f"only the step in progress (step {current}) can be skipped, not step {position}"
            )
        step = self._state.steps[position - 1]
        if step.status is StepStatus.SENDING:
            raise ApplicationError(f"step {position} is being sent and can no longer be skipped")
        if step.status not in _SKIPPABLE:
            raise ApplicationError(f"step {position} cannot be skipped ({step.status})")

    @workflow.update
    async def complete_task(self, position: int) -> EnrollmentState:
        """The user did the manual task of step ``position``: the sequence moves on."""
        self._task_done = position
        self._touch()
        step = self._state.steps[position - 1]
        await workflow.wait_condition(lambda: step.status is StepStatus.SENT or self._is_terminal)
        return self._state

    @complete_task.validator
    def _check_task(self, position: int) -> None:
        """Only a task on the to-do list (its time has come) can be completed."""
        if self._is_terminal:
            raise ApplicationError(f"the sequence has already ended ({self._state.status})")
        if not 1 <= position <= len(self._state.steps):
            raise ApplicationError(f"there is no step {position}")
        step = self._state.steps[position - 1]
        if step.status is not StepStatus.MANUAL_TASK:
            raise ApplicationError(f"step {position} is not an open manual task ({step.status})")

    @workflow.query
    def state(self) -> EnrollmentState:
        """Live state for the API and operators."""
        return self._state

    # -- one step ----------------------------------------------------------------------------

    async def _deliver(self, index: int) -> bool:
        """Check, reserve a slot, wait for it, send. False means the sequence ended first."""
        step = self._state.steps[index]
        self._state.current_step = step.position
        if step.due_at is None:
            step.due_at = self._due_time(index)
        if self._request.steps[index].kind is StepKind.MANUAL_TASK:
            return await self._manual_task(index)
        if self._request.steps[index].kind is StepKind.SMS:
            return await self._sms_step(index)
        while True:
            self._changed = False
            if self._is_terminal:
                await self._release(step, MessageStatus.CANCELED)
                return False
            if self._skip_position == step.position or self._request.steps[index].skipped:
                await self._skip(step)
                return True
            if self._rewind_to is not None:  # the run loop goes back to the bounced step
                await self._release(step, MessageStatus.CANCELED)
                return True
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._cancel_position == step.position:
                self._cancel_position = None
                await self._release(step, MessageStatus.CANCELED)
                step.status = StepStatus.CANCELED
                await self._publish()
                return True
            if self._state.status is ProspectStatus.FAILED:
                if not await self._await_retry(step):
                    return False
                continue
            if self._paused or self._waits_for_mailbox():
                await self._release(step, MessageStatus.WAITING)
                step.status = StepStatus.PENDING
                await self._publish()
                await workflow.wait_condition(lambda: self._changed)
                continue
            if await self._waits_out_of_office(
                step, lambda: self._release(step, MessageStatus.WAITING)
            ):
                continue
            if not await self._address_ready(step):
                continue
            if step.slot_key is not None and step.slot_address != self._state.to_address:
                await self._release(step, MessageStatus.CANCELED)  # the user changed the address
                continue
            if step.slot_key is None:
                await self._reserve(step, not_before=max(step.due_at, workflow.now()))
                continue  # signals may have arrived meanwhile
            slot = step.scheduled_at
            assert slot is not None
            self._show_scheduled(step)
            if self._mirrors_before_send(slot):
                await self._publish()
            # A signal during the publish (e.g. stop) may have changed everything.
            if not await self._sleep_until(self._send_from(slot)):
                continue
            try:
                await self._send(index)
            except ActivityError as error:
                await self._after_failure(step, error)
                continue
            return True

    async def _manual_task(self, index: int) -> bool:
        """A step the user does by hand: on the to-do list from its time until done or skipped.

        It takes no mailbox slot. Paused, it leaves the to-do list; resumed, it
        comes back at once if its time has passed. Completing it counts as the
        step's send time (SeekOut shows it Sent), so the next step's delay runs
        from then.
        """
        step = self._state.steps[index]
        assert step.due_at is not None
        window = self._request.schedule.window.to_window()
        opens_at = window.next_opening(step.due_at)
        while True:
            self._changed = False
            if self._is_terminal:
                return False
            if self._rewind_to is not None:
                return True
            if self._skip_position == step.position or self._request.steps[index].skipped:
                await self._skip(step)
                return True
            if self._task_done == step.position:
                self._task_done = None
                step.status, step.sent_at, step.scheduled_at = (
                    StepStatus.SENT,
                    workflow.now(),
                    None,
                )
                if index == 0:
                    self._state.first_sent_at = step.sent_at
                self._state.status = self._running_status()
                self._touch()
                await self._publish()
                return True
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._paused:
                step.status = StepStatus.PENDING
                self._state.status = self._running_status()
                await self._publish()
                await workflow.wait_condition(lambda: self._changed)
            elif await self._waits_out_of_office(step, None):
                opens_at = max(opens_at, window.next_opening(workflow.now()))
            elif step.status is not StepStatus.MANUAL_TASK:
                step.scheduled_at = opens_at
                self._show_scheduled(step)
                await self._publish()
                if await self._sleep_until(opens_at):
                    step.status = StepStatus.MANUAL_TASK
                    self._state.status = self._running_status()
                    self._touch()
                    await self._publish()
            else:
                await workflow.wait_condition(lambda: self._changed)

    async def _skip(self, step: StepState) -> None:
        """The user skipped this step (for this prospect or for everyone): move on without it."""
        self._skip_position = None
        await self._release(step, MessageStatus.CANCELED)
        step.status, step.scheduled_at = StepStatus.SKIPPED, None
        self._state.awaiting_retry = False
        if self._state.status is ProspectStatus.FAILED:
            self._state.reason = None
        self._state.status = self._running_status()
        self._touch()
        await self._publish()

    async def _after_failure(self, step: StepState, error: ActivityError) -> None:
        """Decide what a failed send leads to; the loop in ``_deliver`` carries it out."""
        failure, details = _failure_of(error)
        reason = _reason_of(error)
        if failure == FailureType.HALTED:
            step.status = StepStatus.PENDING
            ends_as = details.ends_as or ProspectStatus.STOPPED
            self._finish(ends_as, MARKED_FINISHED if ends_as is ProspectStatus.COMPLETED else None)
            return
        if failure == FailureType.SLOT_MISSED:
            await self._release(step, None)
            return
        if failure == FailureType.THROTTLED:
            # The provider's limit: not a failed attempt; try again when it lifts.
            await self._release(step, MessageStatus.WAITING)
            step.due_at = details.not_before or workflow.now() + RATE_LIMIT_PAUSE
            return
        if failure in _PARKS_MAILBOX:
            await self._release(step, MessageStatus.WAITING)
            self._state.parked_on_version = details.mailbox_version or 0
            label = "MailboxPolicy" if failure == "sender_policy" else "MailboxDisconnected"
            self._state.reason = f"{label}: {reason}"
            step.reason = "waiting for the mailbox to be reconnected"
            self._touch()
            return
        if failure == "mailbox_full":
            step.soft_bounces += 1
            if step.soft_bounces < MAILBOX_FULL_TRIES:
                await self._release(step, None)
                step.due_at = workflow.now() + MAILBOX_FULL_RETRY
                return
            failure = "soft_bounce"
        if failure in ("hard_bounce", "soft_bounce", FailureType.SUPPRESSED):
            await self._address_bounced(step, reason)
            return
        # The slot stays counted (a send was attempted); a Retry reserves a new one.
        step.status, step.reason = StepStatus.FAILED, reason
        step.slot_key, step.slot_address, step.scheduled_at = None, None, None
        self._state.status = ProspectStatus.FAILED
        self._state.reason = _FAILURE_REASONS.get(failure, failure)
        self._touch()

    async def _address_bounced(self, step: StepState, reason: str) -> None:
        """Same step to the next allowed address; none left ends the prospect Bounced."""
        await self._release(step, None)
        self._state.bounced_addresses.append(self._state.to_address or "")
        following = self._next_address()
        if following is not None:
            self._state.to_address = following
            step.soft_bounces = 0
            self._touch()
            return
        step.status, step.reason = StepStatus.FAILED, reason
        self._finish(ProspectStatus.BOUNCED, reason=f"Bounced: {reason}")

    async def _address_ready(self, step: StepState) -> bool:
        """Make sure the address in use passed its check; False if the loop must look again."""
        address = self._state.to_address
        if address is None:
            await self._release(step, None)
            step.status, step.reason = StepStatus.FAILED, self._no_address_detail()
            self._state.status, self._state.reason = ProspectStatus.FAILED, "NoAddress"
            self._touch()
            return False
        if address in self._state.address_checks or self._state.skip_address_check:
            return True
        if not self._patched(ADDRESS_CHECK_PATCH):
            return True  # a run started before address checks existed keeps its old course
        verdict = await self._call_local_or_remote(
            "check_address",
            AddressCheckRequest(enrollment_id=self._request.enrollment_id, address=address),
            AddressVerdict,
            CHECK_TIMEOUT,
        )
        self._state.address_checks[address] = verdict.note
        if not verdict.usable:
            await self._release(step, None)
            self._state.invalid_addresses.append(address)
            self._state.to_address = self._next_address()
            self._touch()
            return False
        return True

    def _no_address_detail(self) -> str:
        refused = [
            f"{a} ({self._state.address_checks.get(a, 'refused')})"
            for a in self._state.invalid_addresses
        ]
        if refused:
            return "no usable address: " + "; ".join(refused)
        return "the prospect has no address the campaign allows"

    async def _await_retry(self, step: StepState) -> bool:
        """Wait for a manual Retry of the Failed step; False when the retry window closes."""
        self._state.awaiting_retry = True
        await self._publish()
        try:
            await workflow.wait_condition(
                lambda: (
                    self._retry is not None
                    or self._is_terminal
                    or self._skip_requested(step)
                    or self._rewind_to is not None
                ),
                timeout=RETRY_WINDOW,
            )
        except TimeoutError:
            # Nobody retried: the sequence ends Failed, and the steps after it will not come.
            self._state.awaiting_retry = False
            for later in self._state.steps:
                if later.status in _CANCELABLE:
                    later.status, later.scheduled_at = StepStatus.STOPPED, None
            self._touch()
            return False
        self._state.awaiting_retry = False
        if self._retry is None:
            return True  # ended or skipped meanwhile (stop, reply, skip); the loop sees it
        if self._retry.bypass_validation:
            self._state.skip_address_check = True
            self._state.invalid_addresses.clear()
        if self._state.to_address is None:
            self._state.to_address = self._next_address()
        self._retry = None
        step.status, step.reason, step.soft_bounces = StepStatus.PENDING, None, 0
        step.due_at = workflow.now()
        self._state.status, self._state.reason = self._running_status(), None
        self._touch()
        return True

    async def _bounced_after_completion(self) -> bool:
        """Stay open a few days after the last step: a bounce often comes later, by mail.

        True when one did and a step must go to another address (the sequence
        reopens); a bounce with no address left has ended it Bounced meanwhile.
        """
        if not self._patched(LATE_BOUNCE_PATCH):
            return False  # a run from before late bounces were read ends as it always did
        try:
            await workflow.wait_condition(
                lambda: (
                    self._rewind_to is not None
                    or self._state.status is not ProspectStatus.COMPLETED
                ),
                timeout=LATE_BOUNCE_WINDOW,
            )
        except TimeoutError:
            return False
        if self._rewind_to is None:
            await self._publish()
            return False
        return True

    def _rewind(self) -> int:
        """Go back to the step whose message bounced: it and every later step start afresh
        (to the new address; slot keys go on counting, so no old slot is reused)."""
        position = self._rewind_to or 1
        self._rewind_to = None
        for step in self._state.steps[position - 1 :]:
            step.status, step.scheduled_at, step.sent_at = StepStatus.PENDING, None, None
            step.message_id, step.due_at, step.soft_bounces = None, None, 0
            step.slot_key, step.slot_address = None, None
        self._state.steps[position - 1].due_at = workflow.now()
        self._state.awaiting_retry = False
        self._state.status, self._state.reason = self._running_status(), None
        self._touch()
        return position - 1

    def _first_time(self, key: str) -> bool:
        """De-duplicate inbound events (the same mail seen by IMAP and the webhook)."""
        if key in self._state.inbound_keys:
            return False
        self._state.inbound_keys = [*self._state.inbound_keys, key][-INBOUND_KEYS_KEPT:]
        return True

    def _skip_requested(self, step: StepState) -> bool:
        plan = self._request.steps[step.position - 1]
        return self._skip_position == step.position or plan.skipped

    def _waits_for_mailbox(self) -> bool:
        """Parked on a mailbox that needs re-authentication, until a newer connection."""
        parked = self._state.parked_on_version
        if parked is None:
            return False
        if self._state.mailbox_version <= parked:
            return True
        self._state.parked_on_version, self._state.reason = None, None
        for step in self._state.steps:
            if step.reason == "waiting for the mailbox to be reconnected":
                step.reason = None
        return False

    def _candidates(self) -> list[str]:
        """Every address the campaign allows for this prospect, in order (override first)."""
        ordered = [self._state.override_address, self._request.to_address]
        ordered += self._request.fallback_addresses
        return list(dict.fromkeys(a for a in ordered if a))

    def _next_address(self) -> str | None:
        """The next allowed address that has neither bounced nor failed its check."""
        tried = {
            *self._state.bounced_addresses,
            *self._state.invalid_addresses,
            self._state.to_address,
        }
        return next((a for a in self._candidates() if a not in tried), None)

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
        due, counted_before = (
            follow_up(
                previous,
                anchor,
                delay,
                first.follow_up,
                zone_name,
                jitter,
                count_from_nearest_anchor=nearest,
            )
            for nearest in (True, False)
        )
        # Runs from before the fix counted from the previous send's own date, which
        # could put a step a day off. Temporal is asked only where the counts differ
        # (a send jittered across midnight), so other runs record no patch marker.
        if due == counted_before or workflow.patched(NEAREST_ANCHOR_PATCH):
            return due
        return counted_before

    def _show_scheduled(self, step: StepState) -> None:
        # During the grace delay the first step shows Pending (seed 001), with its time.
        in_grace = workflow.now() < self._request.started_at + self._request.grace
        step.status = StepStatus.PENDING if in_grace else StepStatus.SCHEDULED
        self._state.current_step = step.position
        self._state.status = self._running_status()

    def _send_from(self, slot: datetime) -> datetime:
        """When to hand the send to ``send_step``: at the slot, or now if it is due soon.

        Workflow time stands still while local activities run, so a slot
        reserved "now" lies a moment after ``workflow.now()``. Handing that send
        over at once spares a timer and a workflow task; ``send_step`` itself
        waits until the slot (never early: the window and gap hold).
        """
        if self._due_soon(slot) and self._patched(LOCAL_WRITES_PATCH):
            return workflow.now()
        return slot

    def _mirrors_before_send(self, slot: datetime) -> bool:
        """Whether the state is mirrored before waiting for ``slot``.

        A send that goes at once skips it (the message log shows it Waiting for
        its slot), unless the database still lists another status than the
        sequence has (a Retry or a Resume just now): else the listing keeps
        showing Failed or Paused until the send ends, a minute and more when
        the server defers it (found by the SMTP-fault drill). The patch is asked
        only then, so a run that never changes status first records no marker.
        """
        if self._REPEATS_WRITES or not self._due_soon(slot):
            return True
        return self._published_status is not self._state.status and workflow.patched(
            MIRROR_STATUS_PATCH
        )

    def _due_soon(self, slot: datetime) -> bool:
        """The slot is close enough to send at once (workflow time, as of this call)."""
        return slot - workflow.now() <= SLOT_DUE_SOON

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
        step.scheduled_at = await self._call_local_or_remote(
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
            datetime,
            STORE_TIMEOUT,
        )
        step.slot_key, step.slot_address = key, self._state.to_address

    async def _release(self, step: StepState, message_status: MessageStatus | None) -> None:
        if step.slot_key is None:
            return
        await self._store(
            self._is_terminal,
            "release_slot",
            ReleaseSlotRequest(
                key=step.slot_key,
                enrollment_id=self._request.enrollment_id,
                position=step.position,
                to_address=step.slot_address or self._state.to_address or "",
                message_status=message_status,
            ),
        )
        step.slot_key, step.slot_address, step.scheduled_at = None, None, None

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
            heartbeat_timeout=SEND_HEARTBEAT,
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
    def _completed_normally(self) -> bool:
        """Every step done (not marked finished): a late bounce may still reopen it."""
        return self._state.status is ProspectStatus.COMPLETED and self._state.reason is None

    @property
    def _is_terminal(self) -> bool:
        return self._state.status.is_terminal

    def _running_status(self) -> ProspectStatus:
        if self._paused:
            return ProspectStatus.PAUSED
        if any(s.status is StepStatus.MANUAL_TASK for s in self._state.steps):
            return ProspectStatus.MANUAL_TASK
        anything_sent = any(s.status is StepStatus.SENT for s in self._state.steps)
        return ProspectStatus.ACTIVE if anything_sent else ProspectStatus.NOT_STARTED

    def _finish(self, status: ProspectStatus, reason: str | None = None) -> bool:
        """Enter a terminal status once; steps not yet sent become Stopped.

        Completed with a reason (marked finished) ends early, so it stops steps too.
        """
        if self._is_terminal:
            return False
        self._state.status, self._state.reason = status, reason
        if status is not ProspectStatus.COMPLETED or reason is not None:
            for step in self._state.steps:
                if step.status in _UNFINISHED:
                    step.status, step.scheduled_at = StepStatus.STOPPED, None
        self._touch()
        return True

    def _end_even_if_completed(self, status: ProspectStatus) -> bool:
        """``_finish``, and for a sequence that completed all its steps and waits out late
        bounces, a change of its final status (a reply or opt-out is what the user sees)."""
        if self._completed_normally and self._patched(AFTER_LAST_STEP_PATCH):
            self._state.status = ProspectStatus.ACTIVE  # reopened only to be closed again
        return self._finish(status)

    def _patched(self, patch_id: str) -> bool:
        """For the patches made before this type only: built in here, while
        ``PatchedEnrollmentWorkflow`` asks Temporal. A later change calls
        ``workflow.patched`` itself, so this type's own histories keep replaying."""
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
        await self._store(self._is_terminal, "record_state", self._state)

    async def _store(self, ending: bool, name: str, argument: Any) -> None:
        """A one-row database write (release a slot, mirror the state), as a local activity.

        Both writes are idempotent (slot keys, the mirror's version), so the
        rerun a lost workflow task brings is harmless. Runs from before the
        ``LOCAL_WRITES_PATCH`` keep what they did: regular activities, local
        only once the sequence had ended (``LOCAL_STORE_PATCH``).
        """
        if self._patched(LOCAL_WRITES_PATCH):
            await self._call_local_or_remote(name, argument, type(None), STORE_TIMEOUT)
            return
        if ending and self._patched(LOCAL_STORE_PATCH):
            await workflow.execute_local_activity(
                name, argument, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
            )
            return
        await workflow.execute_activity(
            name, argument, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
        )

    async def _call_local_or_remote(
        self, name: str, argument: Any, result_type: type[T], start_to_close: timedelta
    ) -> T:
        """The address check, slot reservation and database mirror: local activities.

        Each is a short database (or DNS) call, idempotent by its key. Run as
        local activities they cost no server round trip of their own: a
        one-step send needs two workflow tasks and one activity, as the bare
        Temporal floor does (``bench/send_throughput.py``), instead of five
        tasks and four activities. Runs that began before keep regular
        activities (the patch), so their histories replay.
        """
        if self._patched(LOCAL_WRITES_PATCH):
            return await workflow.execute_local_activity(
                name,
                argument,
                result_type=result_type,
                start_to_close_timeout=start_to_close,
                retry_policy=STORE_RETRY,
            )
        return await workflow.execute_activity(
            name,
            argument,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            retry_policy=STORE_RETRY,
        )


@workflow.defn(name="Enrollment")
class PatchedEnrollmentWorkflow(EnrollmentWorkflow):
    """The sequences started before ``EnrollmentWorkflow`` became its own type.

    They keep the course their histories recorded: each change is taken where
    ``workflow.patched`` says the run reached it under the new code, and the
    two writes the new type skips are still made. Remove this class once no
    run of type "Enrollment" is open (``WorkflowType = "Enrollment"`` in the
    Temporal UI) and its recorded histories are retired from the replay test.
    """

    _REPEATS_WRITES = True

    @workflow.run
    async def run(self, request: EnrollmentInput) -> EnrollmentState:
        """As ``EnrollmentWorkflow.run`` (Temporal wants the run method on each type)."""
        return await super().run(request)

    def _patched(self, patch_id: str) -> bool:
        return workflow.patched(patch_id)


def _failure_of(error: ActivityError) -> tuple[str, SendFailure]:
    """The classified outcome (or refusal) a send failed with, and its details."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        details = SendFailure.model_validate(cause.details[0]) if cause.details else SendFailure()
        return cause.type, details
    return "transient", SendFailure()


def _reason_of(error: ActivityError) -> str:
    """The server's answer (or our refusal) in words, for the message log and status."""
    return str(error.cause.message) if isinstance(error.cause, ApplicationError) else str(error)
