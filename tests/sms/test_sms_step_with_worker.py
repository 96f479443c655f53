"""One SMS step through the real pieces: Temporal's dev server, the worker with its real
activities, a real database, Twilio's SDK and the local gateway, whose status callbacks
come back as the ``sms_status`` signal (what the status-callback route does)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import time, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound.devstack.sms_gateway import Behaviour
from outbound.domain.schedule import QuietHoursSpec, ScheduleSpec, WindowSpec
from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.domain.sequence import ENROLLMENT_WORKFLOW, EnrollmentInput, StepPlan
from outbound.domain.sms_sequence import SmsRecipient, SmsStatusUpdate
from outbound.domain.statuses import MessageStatus, StepKind, StepStatus, ThreadMode
from outbound.sms.lifecycle import from_provider
from outbound.worker import build_worker
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.sms.conftest import Receiver
from tests.sms.world import PROSPECT, World
from tests.sms.world import world as world
from tests.support.temporal import binary

ALWAYS = WindowSpec(zone_name="UTC", weekdays=list(range(7)), start=time(0), end=time(0))
ALL_DAY = QuietHoursSpec(zone_name="UTC", start="00:00", end="24:00")
WAIT = 20.0  # seconds


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYWORDS,
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def forward_callbacks(
    receiver: Receiver, handle: WorkflowHandle[EnrollmentWorkflow, object], count: int
) -> None:
    """The status-callback route's part: each callback as an ``sms_status`` signal."""
    for callback in await receiver.wait_for(count):
        status = from_provider(callback.params["MessageStatus"])
        assert status is not None
        await handle.signal(
            EnrollmentWorkflow.sms_status,
            SmsStatusUpdate(
                key=f"{callback.params['MessageSid']}:{callback.params['MessageStatus']}",
                position=1,
                status=status,
                reason=callback.params.get("ErrorCode"),
            ),
        )


async def run_one_text(
    world: World, env: WorkflowEnvironment, engine: Engine, receiver: Receiver, callbacks: int
) -> StepStatus:
    settings = world.settings.model_copy(update={"task_queue": f"sms-{uuid.uuid4()}"})
    now = await env.get_current_time()
    request = EnrollmentInput(
        enrollment_id=world.enrollment_id,
        campaign_id=world.campaign_id,
        prospect_id=world.prospect_id,
        mailbox_id=None,
        started_at=now,
        grace=timedelta(0),
        steps=[
            StepPlan(
                step_id=1,
                position=1,
                delay=timedelta(0),
                thread_mode=ThreadMode.NEW_THREAD,
                kind=StepKind.SMS,
            )
        ],
        to_address=None,
        schedule=ScheduleSpec(window=ALWAYS),
        sms=SmsRecipient(sender_id=world.sender_id, to_number=PROSPECT, quiet_hours=ALL_DAY),
    )
    async with build_worker(env.client, engine, settings):
        handle = await env.client.start_workflow(
            ENROLLMENT_WORKFLOW,
            request,
            id=f"sms-{uuid.uuid4()}",
            task_queue=settings.task_queue,
        )
        await forward_callbacks(receiver, handle, callbacks)
        async with asyncio.timeout(WAIT):
            while True:
                state = await handle.query(EnrollmentWorkflow.state)
                if state.steps[0].status in (StepStatus.SENT, StepStatus.FAILED):
                    break
                await asyncio.sleep(0.1)
        await handle.terminate()
    return state.steps[0].status


async def test_a_text_goes_once_and_is_delivered_through_the_worker(
    world: World, dev_server: WorkflowEnvironment, engine: Engine, receiver: Receiver
) -> None:
    status = await run_one_text(world, dev_server, engine, receiver, callbacks=2)

    assert status is StepStatus.SENT
    assert len(world.gateway.messages) == 1
    message = world.message()
    assert (message.status, message.provider_sid) == ("Sending", world.gateway.messages[0].sid)
    # (The status-callback route records Sent and Delivered in the database; here the
    # workflow got them as signals, and the message log has what the activity wrote.)


async def test_an_undelivered_text_fails_the_step_with_the_error(
    world: World, dev_server: WorkflowEnvironment, engine: Engine, receiver: Receiver
) -> None:
    world.gateway.rules.behaviours[PROSPECT] = Behaviour.UNDELIVERED

    status = await run_one_text(world, dev_server, engine, receiver, callbacks=2)

    assert status is StepStatus.FAILED
    assert len(world.gateway.messages) == 1
    assert world.message().status == MessageStatus.SENDING.value
