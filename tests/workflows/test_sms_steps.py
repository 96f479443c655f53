"""SMS steps of a sequence under time skipping, with stand-in activities.

The stand-in ``send_sms`` plays the provider too: before it returns it signals the
status callbacks a test scripts (the gateway's reports often arrive before the
activity's own answer). What is checked is what a user sees: which texts went and
when, each step's status and reason, and the message statuses the workflow settled
itself (``Timed Out``, ``AssumedDelivered``) exactly 10 minutes on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain.schedule import QuietHoursSpec
from outbound.domain.sequence import FailureType, InboundReply, StepPlan
from outbound.domain.sms_sequence import (
    ReleaseSmsSlotRequest,
    ReserveSmsSlotRequest,
    SendSmsRequest,
    SendSmsResult,
    SettleSmsRequest,
    SmsOptOut,
    SmsRecipient,
    SmsStatusUpdate,
)
from outbound.domain.statuses import (
    MessageStatus,
    ProspectStatus,
    StepKind,
    StepStatus,
    ThreadMode,
)
from outbound.sms.lifecycle import TIMED_OUT
from outbound.workflows.enrollment import EnrollmentWorkflow, PatchedEnrollmentWorkflow
from tests.workflows.harness import GRACE, FakeActivities, Harness, state_of, until

NUMBER = "+15550100001"
TEN_MINUTES = timedelta(minutes=10)
SENT, DELIVERED = MessageStatus.SENT, MessageStatus.DELIVERED


@dataclass
class SmsFakes:
    """The SMS activities: sends recorded with server time, reports signalled as scripted."""

    client: Client
    reports: list[MessageStatus] = field(default_factory=lambda: [SENT, DELIVERED])
    failures: list[str] = field(default_factory=list)
    sends: list[tuple[SendSmsRequest, datetime]] = field(default_factory=list)
    attempts: list[tuple[int, datetime]] = field(default_factory=list)
    settled: list[SettleSmsRequest] = field(default_factory=list)
    reservations: list[ReserveSmsSlotRequest] = field(default_factory=list)
    releases: list[ReleaseSmsSlotRequest] = field(default_factory=list)
    no_common_hours: bool = False

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendSmsRequest) -> SendSmsResult:
        info = activity.info()
        self.attempts.append((request.position, info.current_attempt_scheduled_time))
        if self.failures:
            kind = self.failures.pop(0)
            raise ApplicationError(
                f"{kind} as scripted",
                type=kind,
                non_retryable=kind != FailureType.SMS_TRANSIENT,
            )
        self.sends.append((request, info.current_attempt_scheduled_time))
        handle = self.client.get_workflow_handle(info.workflow_id)
        for status in self.reports:
            await handle.signal(
                EnrollmentWorkflow.sms_status,
                SmsStatusUpdate(
                    key=f"SM{request.position}:{status}", position=request.position, status=status
                ),
            )
        return SendSmsResult(provider_sid=f"SM{request.position}", status=MessageStatus.SENDING)

    @activity.defn(name="reserve_sms_slot")
    async def reserve_sms_slot(self, request: ReserveSmsSlotRequest) -> datetime:
        self.reservations.append(request)
        if self.no_common_hours:  # as activities.sms says of windows that never meet
            raise ApplicationError(
                "the sender's hours never meet the recipient's legal hours",
                type=FailureType.NO_LEGAL_HOURS,
                non_retryable=True,
            )
        return request.not_before

    @activity.defn(name="release_sms_slot")
    async def release_sms_slot(self, request: ReleaseSmsSlotRequest) -> None:
        self.releases.append(request)

    @activity.defn(name="settle_sms")
    async def settle_sms(self, request: SettleSmsRequest) -> None:
        self.settled.append(request)

    @property
    def all(self) -> list[object]:
        return [self.send_sms, self.reserve_sms_slot, self.release_sms_slot, self.settle_sms]

    @property
    def positions_sent(self) -> list[int]:
        return [request.position for request, _ in self.sends]


@dataclass
class SmsHarness:
    harness: Harness
    sms: SmsFakes

    async def start(self, *steps: tuple[StepKind, timedelta], to_number: str | None = NUMBER):
        plans = [
            StepPlan(
                step_id=i,
                position=i,
                delay=delay,
                thread_mode=ThreadMode.NEW_THREAD,
                kind=kind,
            )
            for i, (kind, delay) in enumerate(steps, start=1)
        ]
        recipient = SmsRecipient(
            sender_id=5,
            to_number=to_number,
            quiet_hours=QuietHoursSpec(zone_name="America/New_York", start="08:00", end="21:00"),
        )
        return await self.harness.start(steps=plans, sms=recipient)


@asynccontextmanager
async def sms_worker(env: WorkflowEnvironment, sms: SmsFakes) -> AsyncIterator[SmsHarness]:
    """A worker of the sequences with stand-ins for every activity (``sms`` for texts)."""
    fakes = FakeActivities()
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[EnrollmentWorkflow, PatchedEnrollmentWorkflow],
        activities=[*fakes.all, *sms.all],
        workflow_failure_exception_types=[Exception],
    ):
        harness = Harness(env, fakes, task_queue)
        try:
            yield SmsHarness(harness, sms)
        finally:
            await harness.close()


@pytest.fixture
async def texts(time_skipping: WorkflowEnvironment) -> AsyncIterator[SmsHarness]:
    async with sms_worker(time_skipping, SmsFakes(time_skipping.client)) as harness:
        yield harness


EMAIL, SMS, TASK = StepKind.EMAIL, StepKind.SMS, StepKind.MANUAL_TASK
NOW, DAY = timedelta(0), timedelta(days=1)


async def test_a_mixed_sequence_goes_in_order_email_then_sms_two_days_later_then_a_task(
    texts: SmsHarness,
) -> None:
    handle = await texts.start((EMAIL, NOW), (SMS, 2 * DAY), (TASK, DAY))
    for _ in range(24 * 5):
        state = await state_of(handle)
        if state.status is ProspectStatus.MANUAL_TASK:
            break
        await texts.harness.env.sleep(timedelta(hours=1))

    [(_, email_at)] = texts.harness.fakes.sends
    [(text, text_at)] = texts.sms.sends
    assert (text.position, text.to_number, text.sender_id) == (2, NUMBER, 5)
    assert abs(text_at - email_at - 2 * DAY) <= timedelta(minutes=20)  # the day's jitter
    reserved = texts.sms.reservations[0]
    assert reserved.quiet_hours is not None and reserved.key == "7:2:sms:1"
    assert [s.status for s in state.steps] == [
        StepStatus.SENT,
        StepStatus.SENT,
        StepStatus.MANUAL_TASK,
    ]
    assert state.steps[1].sms_status is DELIVERED
    assert state.steps[1].sent_at == state.steps[1].sms_handed_over_at
    assert texts.sms.settled == []  # the provider's reports said it all

    await handle.execute_update(EnrollmentWorkflow.complete_task, 3)
    final = await handle.result()
    assert final.status is ProspectStatus.COMPLETED


async def test_a_sent_text_without_a_final_report_is_assumed_delivered_after_ten_minutes(
    texts: SmsHarness,
) -> None:
    texts.sms.reports = [SENT]
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))
    state = await until(texts.harness, handle, lambda s: s.steps[0].sms_status is SENT)
    handed_over = state.steps[0].sms_handed_over_at
    assert handed_over is not None
    now = await texts.harness.env.get_current_time()
    await texts.harness.env.sleep(handed_over + TEN_MINUTES - timedelta(seconds=5) - now)
    almost = await state_of(handle)
    assert almost.steps[0].status is StepStatus.SENDING and texts.sms.settled == []

    final = await handle.result()

    step = final.steps[0]
    assert (step.status, step.sms_status) == (StepStatus.SENT, MessageStatus.ASSUMED_DELIVERED)
    assert step.sms_handed_over_at is not None
    assert step.sms_status_at == step.sms_handed_over_at + TEN_MINUTES
    [settled] = texts.sms.settled
    assert (settled.position, settled.status, settled.to_number) == (
        1,
        MessageStatus.ASSUMED_DELIVERED,
        NUMBER,
    )
    assert texts.harness.fakes.positions_sent == [2]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_text_never_reported_sent_fails_timed_out_after_ten_minutes_and_goes_on(
    texts: SmsHarness,
) -> None:
    texts.sms.reports = []
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))
    state = await until(texts.harness, handle, lambda s: s.steps[0].sms_handed_over_at is not None)
    handed_over = state.steps[0].sms_handed_over_at
    assert handed_over is not None
    now = await texts.harness.env.get_current_time()
    await texts.harness.env.sleep(handed_over + TEN_MINUTES - timedelta(seconds=5) - now)
    almost = await state_of(handle)
    assert almost.steps[0].status is StepStatus.SENDING and texts.sms.settled == []

    final = await handle.result()

    step = final.steps[0]
    assert (step.status, step.reason, step.sms_status) == (
        StepStatus.FAILED,
        TIMED_OUT,
        MessageStatus.FAILED,
    )
    assert step.sms_handed_over_at is not None
    assert step.sms_status_at == step.sms_handed_over_at + TEN_MINUTES
    assert [(s.status, s.reason) for s in texts.sms.settled] == [(MessageStatus.FAILED, TIMED_OUT)]
    assert texts.harness.fakes.positions_sent == [2]  # the prospect is not Failed
    assert final.status is ProspectStatus.COMPLETED


async def test_pre_send_errors_are_tried_three_times_then_the_step_fails(
    texts: SmsHarness,
) -> None:
    texts.sms.failures = [FailureType.SMS_TRANSIENT] * 3
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))

    final = await handle.result()

    assert [position for position, _ in texts.sms.attempts] == [1, 1, 1]
    assert texts.sms.sends == []
    assert final.steps[0].status is StepStatus.FAILED
    assert "SmsTransient as scripted" in (final.steps[0].reason or "")
    assert [s.status for s in texts.sms.settled] == [MessageStatus.FAILED]
    assert texts.harness.fakes.positions_sent == [2]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_transient_error_then_a_send_goes_once(texts: SmsHarness) -> None:
    texts.sms.failures = [FailureType.SMS_TRANSIENT]
    handle = await texts.start((SMS, NOW))

    final = await handle.result()

    assert len(texts.sms.attempts) == 2 and texts.sms.positions_sent == [1]
    assert final.steps[0].status is StepStatus.SENT


async def test_an_unsubscribed_recipient_21610_stops_every_sms_step_but_not_the_emails(
    texts: SmsHarness,
) -> None:
    texts.sms.failures = [FailureType.SMS_OPTED_OUT]
    handle = await texts.start((SMS, NOW), (EMAIL, DAY), (SMS, DAY))

    final = await handle.result()

    assert len(texts.sms.attempts) == 1  # never retried
    assert [(s.status, s.reason) for s in final.steps] == [
        (StepStatus.STOPPED, "OptedOut"),
        (StepStatus.SENT, None),
        (StepStatus.STOPPED, "OptedOut"),
    ]
    assert final.sms_opted_out and final.status is ProspectStatus.COMPLETED


async def test_an_unsubscribed_recipient_with_only_texts_left_ends_opted_out(
    texts: SmsHarness,
) -> None:
    texts.sms.failures = [FailureType.SMS_OPTED_OUT]
    handle = await texts.start((SMS, NOW), (SMS, DAY))

    final = await handle.result()

    assert final.status is ProspectStatus.OPTED_OUT
    assert [s.status for s in final.steps] == [StepStatus.STOPPED] * 2
    assert texts.sms.sends == []


async def test_a_stop_text_mid_sequence_stops_the_remaining_sms_steps(texts: SmsHarness) -> None:
    handle = await texts.start((SMS, NOW), (SMS, DAY), (SMS, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(EnrollmentWorkflow.sms_opted_out, SmsOptOut(key="in-1", number=NUMBER))
    final = await handle.result()

    assert texts.sms.positions_sent == [1]
    assert [s.status for s in final.steps] == [
        StepStatus.SENT,
        StepStatus.STOPPED,
        StepStatus.STOPPED,
    ]
    assert final.steps[1].reason == "OptedOut" and final.status is ProspectStatus.OPTED_OUT
    # The second text's slot was given back and its queued message marked Opted Out.
    assert [(r.position, r.message_status) for r in texts.sms.releases] == [
        (2, MessageStatus.OPTED_OUT)
    ]


async def test_a_stop_text_from_another_number_changes_nothing(texts: SmsHarness) -> None:
    handle = await texts.start((SMS, NOW), (SMS, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(
        EnrollmentWorkflow.sms_opted_out, SmsOptOut(key="in-1", number="+15550100999")
    )
    final = await handle.result()

    assert texts.sms.positions_sent == [1, 2] and final.status is ProspectStatus.COMPLETED


async def test_an_sms_reply_stops_the_email_steps_too(texts: SmsHarness) -> None:
    handle = await texts.start((SMS, NOW), (EMAIL, DAY), (SMS, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)

    await handle.signal(
        EnrollmentWorkflow.reply_received, InboundReply(key="SMreply", snippet="who is this?")
    )
    final = await handle.result()

    assert final.status is ProspectStatus.REPLIED and final.reply_snippet == "who is this?"
    assert texts.harness.fakes.sends == [] and texts.sms.positions_sent == [1]
    assert [s.status for s in final.steps[1:]] == [StepStatus.STOPPED] * 2


async def test_a_stop_while_the_text_is_sent_lets_its_lifecycle_finish(
    texts: SmsHarness,
) -> None:
    texts.sms.reports = [SENT]
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].sms_status is SENT)

    await handle.signal(EnrollmentWorkflow.stop)
    stopped = await state_of(handle)
    assert stopped.status is ProspectStatus.STOPPED
    assert stopped.steps[0].status is StepStatus.SENDING  # not recalled

    final = await handle.result()
    assert final.steps[0].status is StepStatus.SENT
    assert [s.status for s in texts.sms.settled] == [MessageStatus.ASSUMED_DELIVERED]
    assert final.steps[1].status is StepStatus.STOPPED and texts.harness.fakes.sends == []
    assert final.status is ProspectStatus.STOPPED


async def test_a_stop_before_the_slot_cancels_the_queued_text(texts: SmsHarness) -> None:
    handle = await texts.start((SMS, NOW))
    await texts.harness.env.sleep(GRACE - timedelta(minutes=5))

    await handle.signal(EnrollmentWorkflow.stop)
    final = await handle.result()

    assert texts.sms.sends == [] and final.status is ProspectStatus.STOPPED
    assert [r.message_status for r in texts.sms.releases] == [MessageStatus.CANCELED]


async def test_a_late_sent_after_delivered_changes_nothing(texts: SmsHarness) -> None:
    texts.sms.reports = [DELIVERED]
    handle = await texts.start((SMS, NOW), (SMS, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].status is StepStatus.SENT)
    before = (await state_of(handle)).steps[0]

    for key in ("SM1:late-sent", "SM1:late-sent", "SM1:Delivered"):
        status = SENT if key.endswith("sent") else DELIVERED
        await handle.signal(
            EnrollmentWorkflow.sms_status,
            SmsStatusUpdate(key=key, position=1, status=status),
        )
    after = (await state_of(handle)).steps[0]

    assert (after.status, after.sms_status, after.sms_status_at, after.sent_at) == (
        before.status,
        DELIVERED,
        before.sms_status_at,
        before.sent_at,
    )
    await handle.result()
    assert texts.sms.settled == []


async def test_a_prospect_without_a_number_skips_the_text_and_goes_on(texts: SmsHarness) -> None:
    handle = await texts.start((SMS, NOW), (EMAIL, DAY), to_number=None)

    final = await handle.result()

    assert (final.steps[0].status, final.steps[0].reason) == (StepStatus.SKIPPED, "NoPhone")
    assert texts.sms.attempts == [] and texts.harness.fakes.positions_sent == [2]
    assert final.status is ProspectStatus.COMPLETED


async def test_a_text_that_can_never_be_legal_is_skipped_and_the_sequence_goes_on(
    texts: SmsHarness,
) -> None:
    texts.sms.no_common_hours = True
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))

    final = await handle.result()

    step = final.steps[0]
    assert step.status is StepStatus.SKIPPED and "never meet" in (step.reason or "")
    assert len(texts.sms.reservations) == 1  # refused once, not retried for ever
    assert texts.sms.attempts == [] and texts.harness.fakes.positions_sent == [2]
    assert final.status is ProspectStatus.COMPLETED


async def test_pause_gives_the_slot_back_and_resume_sends_the_text_once(
    texts: SmsHarness,
) -> None:
    handle = await texts.start((SMS, NOW))
    await texts.harness.env.sleep(timedelta(minutes=5))
    await handle.signal(EnrollmentWorkflow.pause)
    await texts.harness.env.sleep(2 * DAY)
    assert texts.sms.sends == []
    assert [r.message_status for r in texts.sms.releases] == [MessageStatus.QUEUED]

    await handle.signal(EnrollmentWorkflow.resume)
    final = await handle.result()

    assert texts.sms.positions_sent == [1] and final.steps[0].status is StepStatus.SENT
    assert [r.key for r in texts.sms.reservations] == ["7:1:sms:1", "7:1:sms:2"]


async def test_a_delivered_report_after_timed_out_is_the_truth(texts: SmsHarness) -> None:
    texts.sms.reports = []
    handle = await texts.start((SMS, NOW), (SMS, DAY))
    await until(texts.harness, handle, lambda s: s.steps[0].status is StepStatus.FAILED)

    await handle.signal(
        EnrollmentWorkflow.sms_status,
        SmsStatusUpdate(key="SM1:delivered", position=1, status=DELIVERED),
    )
    state = await state_of(handle)

    assert (state.steps[0].status, state.steps[0].sms_status) == (StepStatus.SENT, DELIVERED)
    assert state.steps[0].reason is None
    await handle.terminate()


async def test_a_parked_sender_fails_the_step_and_the_sequence_goes_on(
    texts: SmsHarness,
) -> None:
    texts.sms.failures = [FailureType.SENDER_PARKED]
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))

    final = await handle.result()

    assert (final.steps[0].status, final.steps[0].reason) == (
        StepStatus.FAILED,
        "SenderDisconnected",
    )
    assert texts.sms.settled[0].reason == "SenderDisconnected: SenderParked as scripted"
    assert len(texts.sms.attempts) == 1 and texts.harness.fakes.positions_sent == [2]


async def test_a_stop_seen_by_the_last_look_ends_the_sequence_unsent(texts: SmsHarness) -> None:
    texts.sms.failures = [FailureType.HALTED]
    handle = await texts.start((SMS, NOW), (EMAIL, DAY))

    final = await handle.result()

    assert final.status is ProspectStatus.STOPPED and texts.sms.sends == []
    assert [r.message_status for r in texts.sms.releases] == [MessageStatus.CANCELED]
    assert texts.harness.fakes.sends == []


async def test_canceling_the_scheduled_text_moves_on_without_it(texts: SmsHarness) -> None:
    handle = await texts.start((EMAIL, NOW), (SMS, DAY), (EMAIL, DAY))
    await until(texts.harness, handle, lambda s: s.steps[1].status is StepStatus.SCHEDULED)

    await handle.execute_update(EnrollmentWorkflow.cancel_message, 2)
    final = await handle.result()

    assert final.steps[1].status is StepStatus.CANCELED and texts.sms.sends == []
    assert [r.message_status for r in texts.sms.releases] == [MessageStatus.CANCELED]
    assert texts.harness.fakes.positions_sent == [1, 3]
