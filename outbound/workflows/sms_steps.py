"""SMS steps of a prospect's sequence: the part of ``EnrollmentWorkflow`` that texts.

An SMS step goes like an email step (its time, a slot, a wait, an activity),
with the sender's slot instead of a mailbox's and the message's lifecycle of
seed 004 after the hand-over:

- No number for the prospect: the step is Skipped ("NoPhone"), the sequence goes on.
- A slot of the SMS sender (``reserve_sms_slot``, a local activity), inside the
  campaign's window, the sender's own hours and the recipient's legal hours;
  pause, stop, reply, skip and cancel give it back (a Queued message is Canceled).
- ``send_sms`` hands the text over (at most 3 attempts of pre-send errors).
- Then the workflow's own timers: no ``sent`` report within 10 minutes of the
  hand-over settles the message Failed ("Timed Out"); no final report within 10
  minutes of ``sent`` settles it AssumedDelivered. Delivered (or assumed) makes
  the step Sent as of the hand-over; Failed makes it Failed with the provider's
  reason and the sequence goes on. A stop or reply meanwhile lets the lifecycle
  finish; nothing more is sent after it.
- The number opted out (the provider's 21610, the suppression list, or a STOP
  text: ``sms_opted_out``): this and every later SMS step is Stopped
  ("OptedOut"); with no other step left the prospect ends OptedOut.

Replay safety: histories recorded before SMS steps existed never reach this code
(no step of kind ``sms``), and the signal handlers add no command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from outbound.domain.sequence import EnrollmentInput, EnrollmentState, FailureType, StepState
    from outbound.domain.sms_sequence import SmsOptOut, SmsStatusUpdate
    from outbound.domain.statuses import MessageStatus, ProspectStatus, StepKind, StepStatus
    from outbound.sms import lifecycle

from outbound.workflows import sms_calls  # workflow code: imported (and checked) in the sandbox

SMS_LIFECYCLE_WAIT = timedelta(minutes=10)  # seed 004: Timed Out / Assumed Delivered after it
NO_PHONE = "NoPhone"
OPTED_OUT = "OptedOut"
SENDER_DISCONNECTED = "SenderDisconnected"
MARKED_FINISHED = "MarkedFinished"  # as ``enrollment.MARKED_FINISHED`` (a halt by the user)
SMS_KEYS_KEPT = 100
_SENT_RANK = lifecycle.rank(MessageStatus.SENT)
_FINAL_RANK = lifecycle.rank(MessageStatus.ASSUMED_DELIVERED)  # a guess or the final word
_UNSTARTED = frozenset({StepStatus.PENDING, StepStatus.SCHEDULED})
_STILL_TO_COME = frozenset({StepStatus.PENDING, StepStatus.SCHEDULED, StepStatus.MANUAL_TASK})
_WENT = frozenset({MessageStatus.DELIVERED, MessageStatus.ASSUMED_DELIVERED})


class SmsSteps:
    """The SMS steps of ``EnrollmentWorkflow`` (a mixin: it holds no state of its own)."""

    if TYPE_CHECKING:  # what the workflow class provides
        _request: EnrollmentInput
        _state: EnrollmentState
        _changed: bool
        _paused: bool
        _cancel_position: int | None
        _skip_position: int | None
        _rewind_to: int | None

        @property
        def _is_terminal(self) -> bool: ...
        def _touch(self) -> None: ...
        def _running_status(self) -> ProspectStatus: ...
        def _show_scheduled(self, step: StepState) -> None: ...
        def _send_from(self, slot: datetime) -> datetime: ...
        def _end_even_if_completed(self, status: ProspectStatus) -> bool: ...
        def _finish(self, status: ProspectStatus, reason: str | None = None) -> bool: ...
        async def _publish(self) -> None: ...
        async def _skip(self, step: StepState) -> None: ...
        async def _sleep_until(self, moment: datetime) -> bool: ...
        async def _continue_as_new(self) -> None: ...
        async def _waits_out_of_office(
            self, step: StepState, release: Callable[[], Awaitable[None]] | None
        ) -> bool: ...

    # -- signals -------------------------------------------------------------------------------

    @workflow.signal
    def sms_status(self, update: SmsStatusUpdate) -> None:
        """A verified status callback of an SMS step: applied only if it advances the
        message (a late ``sent`` never undoes ``delivered``; a repeat changes nothing)."""
        if not self._first_sms_signal(update.key) or not 1 <= update.position <= len(
            self._state.steps
        ):
            return
        step = self._state.steps[update.position - 1]
        if step.sms_status is None:  # not handed over (yet): nothing to report on
            return
        if self._advance_sms(step, update.status, update.reason) and step.status in (
            StepStatus.SENT,
            StepStatus.FAILED,
        ):
            self._settle_step(step)  # the truth came after our guess (AssumedDelivered …)

    @workflow.signal
    def sms_opted_out(self, opt_out: SmsOptOut) -> None:
        """The prospect's number texted STOP: no SMS step goes to it any more."""
        sms = self._request.sms
        if self._first_sms_signal(opt_out.key) and sms and opt_out.number == sms.to_number:
            self._sms_opt_out()

    # -- one SMS step --------------------------------------------------------------------------

    async def _sms_step(self, index: int) -> bool:
        """Reserve, wait, hand over, follow the lifecycle. False: the sequence ended first."""
        step = self._state.steps[index]
        sms = self._request.sms
        if sms is None or sms.to_number is None:
            step.status, step.reason, step.scheduled_at = StepStatus.SKIPPED, NO_PHONE, None
            self._state.status = self._running_status()
            self._touch()
            await self._publish()
            return True
        if step.sms_handed_over_at is not None and self._sms_rank(step) >= _FINAL_RANK:
            self._settle_step(step)  # it went before a late bounce rewound the sequence
            return True
        while True:
            self._changed = False
            if self._state.sms_opted_out:
                await self._release_sms(step, MessageStatus.OPTED_OUT)
                step.status, step.reason, step.scheduled_at = StepStatus.STOPPED, OPTED_OUT, None
                await self._publish()
                return not self._is_terminal
            if self._is_terminal:
                await self._release_sms(step, MessageStatus.CANCELED)
                return False
            plan = self._request.steps[index]
            if self._skip_position == step.position or plan.skipped:
                await self._release_sms(step, MessageStatus.CANCELED)
                await self._skip(step)
                return True
            if self._rewind_to is not None:  # a late bounce of an earlier email
                await self._release_sms(step, MessageStatus.CANCELED)
                return True
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._cancel_position == step.position:
                self._cancel_position = None
                await self._release_sms(step, MessageStatus.CANCELED)
                step.status = StepStatus.CANCELED
                await self._publish()
                return True
            if self._paused:
                await self._release_sms(step, MessageStatus.QUEUED)
                step.status = StepStatus.PENDING
                await self._publish()
                await workflow.wait_condition(lambda: self._changed)
                continue
            if await self._waits_out_of_office(
                step, lambda: self._release_sms(step, MessageStatus.QUEUED)
            ):
                continue
            if step.sms_slot_key is None:
                assert step.due_at is not None
                if not await self._reserve_sms(step, max(step.due_at, workflow.now())):
                    return True  # never legal to send: skipped
                continue  # signals may have arrived meanwhile
            assert step.scheduled_at is not None
            self._show_scheduled(step)
            await self._publish()
            if not await self._sleep_until(self._send_from(step.scheduled_at)):
                continue
            try:
                await self._hand_over(step)
            except ActivityError as error:
                if await self._sms_failed(step, error):
                    return True
                continue
            await self._follow_lifecycle(step)
            return True

    async def _hand_over(self, step: StepState) -> None:
        """``send_sms``; the message is Sending (or further along) when it returns."""
        sms = self._request.sms
        assert sms is not None and sms.to_number is not None
        step.status, step.sms_status = StepStatus.SENDING, MessageStatus.QUEUED
        self._touch()
        result = await sms_calls.send_sms(self._request, step)
        step.sms_handed_over_at = workflow.now()
        step.sms_slot_key = None  # used: it stays counted against the sender's limits
        self._advance_sms(step, result.status, None)
        self._show_running()
        await self._publish()

    async def _follow_lifecycle(self, step: StepState) -> None:
        """Wait for the provider's reports, settling what does not come in 10 minutes:
        10 minutes from the hand-over for ``sent``, then 10 from ``sent`` for the end."""
        handed_over = step.sms_handed_over_at
        assert handed_over is not None
        deadline = handed_over + SMS_LIFECYCLE_WAIT
        if not await self._reported(step, _SENT_RANK, deadline):
            await self._settle_sms(step, MessageStatus.FAILED, lifecycle.TIMED_OUT, deadline)
        else:
            deadline = max(step.sms_status_at or handed_over, handed_over) + SMS_LIFECYCLE_WAIT
            if not await self._reported(step, _FINAL_RANK, deadline):
                await self._settle_sms(step, MessageStatus.ASSUMED_DELIVERED, None, deadline)
        self._settle_step(step)
        self._show_running()
        await self._publish()

    async def _reported(self, step: StepState, rank: int, deadline: datetime) -> bool:
        """Whether the message reaches ``rank`` by ``deadline`` (workflow time)."""
        remaining = deadline - workflow.now()
        if self._sms_rank(step) >= rank or remaining <= timedelta(0):
            return self._sms_rank(step) >= rank
        try:
            await workflow.wait_condition(lambda: self._sms_rank(step) >= rank, timeout=remaining)
        except TimeoutError:
            return self._sms_rank(step) >= rank
        return True

    def _settle_step(self, step: StepState) -> None:
        """The step's status from its message's final (or guessed) status."""
        if step.sms_status in _WENT:
            step.status, step.reason = StepStatus.SENT, None
            step.sent_at = step.sms_handed_over_at  # the next step's delay counts from it
            if step.position == 1:
                self._state.first_sent_at = step.sent_at
        elif step.sms_status is MessageStatus.OPTED_OUT:
            step.status, step.reason = StepStatus.STOPPED, OPTED_OUT
            self._sms_opt_out()
        else:
            step.status = StepStatus.FAILED
            step.reason = step.reason or "Failed"
        self._touch()

    async def _sms_failed(self, step: StepState, error: ActivityError) -> bool:
        """What a failed hand-over leads to; True when the step is done (Failed or Stopped)."""
        kind, reason, details = sms_calls.failure_of(error)
        step.status, step.sms_status = StepStatus.PENDING, None
        if kind == FailureType.HALTED:  # stopped or replied, seen by the activity's last look
            ends_as = details.ends_as or ProspectStatus.STOPPED
            self._finish(ends_as, MARKED_FINISHED if ends_as is ProspectStatus.COMPLETED else None)
            return False
        if kind == FailureType.SLOT_MISSED:
            await self._release_sms(step, None)
            return False
        step.sms_slot_key, step.scheduled_at = None, None  # an attempt was made: it counts
        if kind == FailureType.SMS_OPTED_OUT:
            step.status, step.reason = StepStatus.STOPPED, OPTED_OUT
            self._sms_opt_out()
        else:
            parked = kind == FailureType.SENDER_PARKED
            logged = f"{SENDER_DISCONNECTED}: {reason}" if parked else reason
            await self._settle_sms(step, MessageStatus.FAILED, logged)
            step.status, step.reason = StepStatus.FAILED, SENDER_DISCONNECTED if parked else reason
        self._show_running()
        await self._publish()
        return True

    def _sms_opt_out(self) -> None:
        """No SMS step goes any more; without another step to come the prospect is OptedOut."""
        self._state.sms_opted_out = True
        for position, step in enumerate(self._state.steps, start=1):
            if self._kind(position) is StepKind.SMS and step.status in _UNSTARTED:
                step.status, step.reason, step.scheduled_at = (
                    StepStatus.STOPPED,
                    OPTED_OUT,
                    None,
                )
        others = any(
            step.status in _STILL_TO_COME
            for position, step in enumerate(self._state.steps, start=1)
            if self._kind(position) is not StepKind.SMS
        )
        if not others:
            self._end_even_if_completed(ProspectStatus.OPTED_OUT)
        self._touch()

    # -- state and store -----------------------------------------------------------------------

    def _show_running(self) -> None:
        """The prospect's running status; Active once a text went to the provider."""
        if self._is_terminal:
            return
        status = self._running_status()
        handed_over = any(s.sms_handed_over_at for s in self._state.steps)
        if status is ProspectStatus.NOT_STARTED and handed_over:
            status = ProspectStatus.ACTIVE
        self._state.status = status
        self._touch()

    def _kind(self, position: int) -> StepKind:
        return self._request.steps[position - 1].kind

    def _sms_rank(self, step: StepState) -> int:
        return lifecycle.rank(step.sms_status or MessageStatus.QUEUED, step.reason)

    def _advance_sms(
        self,
        step: StepState,
        status: MessageStatus,
        reason: str | None,
        at: datetime | None = None,
    ) -> bool:
        """Take ``status`` (as of ``at``, else now) if it advances the step's message; True
        if it did."""
        current = step.sms_status or MessageStatus.QUEUED
        current_reason = step.reason if current is MessageStatus.FAILED else None
        if not lifecycle.advances(current, current_reason, status, reason):
            return False
        step.sms_status, step.sms_status_at = status, at or workflow.now()
        if status is MessageStatus.FAILED:
            step.reason = reason or "Failed"
        self._touch()
        return True

    def _first_sms_signal(self, key: str) -> bool:
        if key in self._state.sms_keys:
            return False
        self._state.sms_keys = [*self._state.sms_keys, key][-SMS_KEYS_KEPT:]
        return True

    async def _reserve_sms(self, step: StepState, not_before: datetime) -> bool:
        """Take a slot; False (the step Skipped, ``NoLegalHours``) when none can ever be."""
        step.reservations += 1
        try:
            step.sms_slot_key, step.scheduled_at = await sms_calls.reserve_sms_slot(
                self._request, step, not_before
            )
        except (ActivityError, ApplicationError) as error:  # a local activity's may be bare
            failure, reason, _ = sms_calls.failure_of(error)
            if failure != FailureType.NO_LEGAL_HOURS:
                raise
            step.status, step.reason, step.scheduled_at = StepStatus.SKIPPED, reason, None
            self._state.status = self._running_status()
            self._touch()
            await self._publish()
            return False
        return True

    async def _release_sms(self, step: StepState, message_status: MessageStatus | None) -> None:
        """Give the slot back, if one is held; a Queued message becomes ``message_status``."""
        if step.sms_slot_key is not None:
            await sms_calls.release_sms_slot(self._request, step, message_status)
            step.sms_slot_key, step.scheduled_at = None, None

    async def _settle_sms(
        self,
        step: StepState,
        status: MessageStatus,
        reason: str | None,
        decided_at: datetime | None = None,
    ) -> None:
        """Record a status the workflow decided (unless a report advanced past it), as of
        ``decided_at`` (a lifecycle's deadline; else now)."""
        await sms_calls.settle_sms(self._request, step, status, reason)
        self._advance_sms(step, status, reason, decided_at)
