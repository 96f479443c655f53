"""The activities an SMS step calls, as the workflow calls them (``workflows.sms_steps``).

Each takes the sequence's input and the step's state and returns what came back;
the step's own bookkeeping stays in ``SmsSteps``. The slot and the settled status
are short, idempotent database writes (local activities, keyed by the step and
its reservation count); ``send_sms`` talks to the provider (a regular activity,
3 attempts: seed 004's "pre-send errors are retried up to 3 times").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from outbound.domain.sequence import EnrollmentInput, FailureType, SendFailure, StepState
    from outbound.domain.sms_sequence import (
        ReleaseSmsSlotRequest,
        ReserveSmsSlotRequest,
        SendSmsRequest,
        SendSmsResult,
        SettleSmsRequest,
        SmsRecipient,
    )
    from outbound.domain.statuses import MessageStatus

from outbound.workflows.store_calls import local_write  # workflow code: in the sandbox

SEND_TIMEOUT = timedelta(minutes=1)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_attempts=3,
    non_retryable_error_types=[
        FailureType.SMS_OPTED_OUT,
        FailureType.SMS_REJECTED,
        FailureType.SENDER_PARKED,
        FailureType.HALTED,
        FailureType.SUPERSEDED,
        FailureType.SLOT_MISSED,
        FailureType.TEMPLATE_TOO_EXPENSIVE,
        FailureType.TEMPLATE_REFUSED,
    ],
)


async def reserve_sms_slot(
    request: EnrollmentInput, step: StepState, not_before: datetime
) -> tuple[str, datetime]:
    """A new slot of the SMS sender for the step: its key and its time."""
    sms = _recipient(request)
    assert sms.to_number is not None
    key = f"{request.enrollment_id}:{step.position}:sms:{step.reservations}"
    slot = await local_write(
        "reserve_sms_slot",
        ReserveSmsSlotRequest(
            key=key,
            enrollment_id=request.enrollment_id,
            position=step.position,
            sender_id=sms.sender_id,
            to_number=sms.to_number,
            not_before=not_before,
            window=request.schedule.window,
            quiet_hours=sms.quiet_hours,
        ),
        datetime,
    )
    return key, slot


async def release_sms_slot(
    request: EnrollmentInput, step: StepState, message_status: MessageStatus | None
) -> None:
    """Give the step's slot back; a Queued message becomes ``message_status``."""
    sms = _recipient(request)
    assert step.sms_slot_key is not None and sms.to_number is not None
    await local_write(
        "release_sms_slot",
        ReleaseSmsSlotRequest(
            key=step.sms_slot_key,
            enrollment_id=request.enrollment_id,
            position=step.position,
            to_number=sms.to_number,
            message_status=message_status,
        ),
        type(None),
    )


async def send_sms(request: EnrollmentInput, step: StepState) -> SendSmsResult:
    """Hand the step's text to the provider (``activities.sms.send_sms``)."""
    sms = _recipient(request)
    assert sms.to_number is not None
    return await workflow.execute_activity(
        "send_sms",
        SendSmsRequest(
            enrollment_id=request.enrollment_id,
            position=step.position,
            sender_id=sms.sender_id,
            to_number=sms.to_number,
            scheduled_at=step.scheduled_at,
            slot_key=step.sms_slot_key,
        ),
        result_type=SendSmsResult,
        start_to_close_timeout=SEND_TIMEOUT,
        retry_policy=SEND_RETRY,
    )


async def settle_sms(
    request: EnrollmentInput, step: StepState, status: MessageStatus, reason: str | None
) -> None:
    """Record a status the workflow decided (the store keeps a report that came first)."""
    sms = _recipient(request)
    assert sms.to_number is not None
    await local_write(
        "settle_sms",
        SettleSmsRequest(
            enrollment_id=request.enrollment_id,
            position=step.position,
            to_number=sms.to_number,
            status=status,
            reason=reason,
        ),
        type(None),
    )


def failure_of(error: ActivityError | ApplicationError) -> tuple[str, str, SendFailure]:
    """The failure's type, its reason in words and its details (``send_sms``'s refusals;
    a local activity's refusal may reach the workflow as the bare ``ApplicationError``)."""
    cause = error if isinstance(error, ApplicationError) else error.cause
    if not isinstance(cause, ApplicationError):
        return "", str(error), SendFailure()
    details = SendFailure.model_validate(cause.details[0]) if cause.details else SendFailure()
    return cause.type or "", str(cause.message), details


def _recipient(request: EnrollmentInput) -> SmsRecipient:
    assert request.sms is not None, "an SMS step needs the sequence's SMS recipient"
    return request.sms
