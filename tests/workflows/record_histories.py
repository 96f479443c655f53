"""Record enrollment workflow histories for the replay test.

Run ``python -m tests.workflows.record_histories v9`` (the next version) when a workflow version is
released; commit the JSON files. The replay test then fails on any change that
would break the workflows already running in production (use
``workflow.patched`` for such changes). Versions 1 to 5 are runs of the type
"Enrollment" (``PatchedEnrollmentWorkflow``); from v6 on they are recorded as the
current type, ``EnrollmentWorkflow``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain.sequence import (
    EnrollmentState,
    InboundReply,
    LateBounce,
    ManualReply,
    RetryRequest,
    SendFailure,
    SkipRequest,
)
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.support.temporal import binary, register_search_attributes
from tests.workflows.harness import GRACE, FakeActivities, Harness, next_midnight, plans

HISTORIES = Path(__file__).parent / "histories"
Handle = WorkflowHandle[EnrollmentWorkflow, EnrollmentState]


async def completed(harness: Harness) -> Handle:
    return await harness.start(timedelta(0), timedelta(days=3), timedelta(days=2))


async def paused_and_resumed(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))
    await handle.signal(EnrollmentWorkflow.pause)
    await harness.env.sleep(timedelta(days=2))
    await handle.signal(EnrollmentWorkflow.resume)
    return handle


async def stopped(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=3))
    await harness.env.sleep(timedelta(days=1))
    await handle.signal(EnrollmentWorkflow.stop)
    return handle


async def replied(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=3))
    await harness.env.sleep(timedelta(days=1))
    await handle.signal(EnrollmentWorkflow.mark_replied, ManualReply(snippet="Sounds good"))
    return handle


async def failed_then_retried(harness: Harness) -> Handle:
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(hours=2))
    await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())
    return handle


async def parked_and_reconnected(harness: Harness) -> Handle:
    harness.fakes.failures = [("auth_failed", SendFailure(mailbox_version=0))]
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(hours=2))
    await handle.signal(EnrollmentWorkflow.mailbox_reconnected, 1)
    return handle


async def bounced_to_fallback(harness: Harness) -> Handle:
    harness.fakes.failures = ["hard_bounce"]
    harness.fakes.invalid["ann@old.example.com"] = "invalid: the domain does not exist"
    return await harness.start(
        timedelta(0),
        timedelta(days=1),
        fallback_addresses=["ann@old.example.com", "ann@work.example.com"],
    )


async def manual_task_completed(harness: Harness) -> Handle:
    handle = await harness.start(
        timedelta(0), timedelta(days=1), timedelta(days=1), manual_tasks=(2,)
    )
    await harness.env.sleep(timedelta(days=2))
    await handle.execute_update(EnrollmentWorkflow.complete_task, 2)
    return handle


async def step_skipped(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=3), timedelta(days=1))
    await harness.env.sleep(timedelta(days=1))
    await handle.execute_update(EnrollmentWorkflow.skip_step, SkipRequest())
    return handle


async def marked_finished(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=3))
    await harness.env.sleep(timedelta(days=1))
    await handle.signal(EnrollmentWorkflow.mark_finished)
    return handle


async def steps_revised(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=1))
    await harness.env.sleep(timedelta(minutes=5))
    revised = plans(timedelta(0), timedelta(days=2), timedelta(days=1))
    revised[1].skipped = True
    await handle.signal(EnrollmentWorkflow.revise_steps, revised)
    return handle


async def reply_read_from_the_inbox(harness: Harness) -> Handle:
    handle = await harness.start(timedelta(0), timedelta(days=3))
    await harness.env.sleep(timedelta(days=1))
    await handle.signal(
        EnrollmentWorkflow.reply_received, InboundReply(key="imap:1:7", snippet="Yes, let's talk")
    )
    return handle


async def late_bounce_to_fallback(harness: Harness) -> Handle:
    handle = await harness.start(
        timedelta(0), timedelta(days=2), fallback_addresses=["ann@work.example.com"]
    )
    await harness.env.sleep(timedelta(hours=1))
    state = await handle.query(EnrollmentWorkflow.state)
    bounce = LateBounce(
        key="imap:1:8",
        message_id=state.steps[0].message_id or "",
        address=state.to_address or "",
        reason="5.1.1 user unknown",
    )
    await handle.signal(EnrollmentWorkflow.late_bounce, bounce)
    return handle


async def follow_up_across_midnight(harness: Harness) -> Handle:
    """A run whose follow-up was jittered across midnight (about one in two is), so
    the next step's day is counted from the nearest time of day: it holds the marker."""
    for _ in range(20):
        midnight = await next_midnight(harness.env)
        handle = await harness.start(
            timedelta(0), timedelta(days=1), timedelta(days=1), started_at=midnight - GRACE
        )
        await handle.result()
        history = await handle.fetch_history()
        if any(
            event.marker_recorded_event_attributes.marker_name == "core_patch"
            for event in history.events
        ):
            return handle
    raise AssertionError("no follow-up crossed midnight in 20 runs")


SCENARIOS: dict[str, Callable[[Harness], Awaitable[Handle]]] = {
    "completed": completed,
    "paused_and_resumed": paused_and_resumed,
    "stopped": stopped,
    "replied": replied,
    "failed_then_retried": failed_then_retried,
    "parked_and_reconnected": parked_and_reconnected,
    "bounced_to_fallback": bounced_to_fallback,
    "manual_task_completed": manual_task_completed,
    "step_skipped": step_skipped,
    "marked_finished": marked_finished,
    "steps_revised": steps_revised,
    "reply_read_from_the_inbox": reply_read_from_the_inbox,
    "late_bounce_to_fallback": late_bounce_to_fallback,
    "follow_up_across_midnight": follow_up_across_midnight,
}


async def record(version: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        fakes = FakeActivities()
        task_queue = f"record-{uuid.uuid4()}"
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=[EnrollmentWorkflow],
            activities=fakes.all,
        ):
            harness = Harness(env, fakes, task_queue)
            for name, scenario in SCENARIOS.items():
                handle = await scenario(harness)
                await handle.result()
                history = await handle.fetch_history()
                path = HISTORIES / f"enrollment-{version}-{name}.json"
                path.write_text(history.to_json())
                print(f"wrote {path}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "next"))
