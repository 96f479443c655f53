"""New sequences start as the current workflow type; runs of the old type keep their course.

The current type has every earlier ``workflow.patched`` change built in, so
its histories hold no patch markers (and Temporal writes no
``TemporalChangeVersion`` for them): fewer events and search-attribute writes
per send, which is what ``bench/send_throughput.py`` measures. Runs started as
"Enrollment" before it existed must still finish, with the markers and writes
their recorded histories have (``test_replay.py`` replays those).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from outbound.domain.sequence import ENROLLMENT_WORKFLOW, RetryRequest
from outbound.domain.statuses import ProspectStatus, StepStatus
from outbound.workflows.enrollment import EnrollmentWorkflow
from tests.workflows.harness import Harness, until

PATCH_MARKER = "core_patch"


async def markers_and_upserts(handle: WorkflowHandle) -> tuple[list[str], list[str]]:
    """The markers' names and the search attributes upserted, in history order."""
    history = await handle.fetch_history()
    markers = [
        event.marker_recorded_event_attributes.marker_name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    upserts = [
        event.upsert_workflow_search_attributes_event_attributes.search_attributes
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    upserted = [name for attributes in upserts for name in attributes.indexed_fields]
    return markers, upserted


async def test_a_new_sequence_records_no_patch_markers(harness: Harness) -> None:
    handle = await harness.start(timedelta(0), timedelta(days=1))

    final = await handle.result()

    assert (await handle.describe()).workflow_type == ENROLLMENT_WORKFLOW
    assert harness.fakes.positions_sent == [1, 2]
    assert final.status is ProspectStatus.COMPLETED
    markers, upserted = await markers_and_upserts(handle)
    assert PATCH_MARKER not in markers
    # The start set NotStarted: the status is written when it changes, and only then.
    assert upserted == ["ProspectStatus", "ProspectStatus"]


async def test_a_send_due_at_once_is_not_mirrored_first(harness: Harness) -> None:
    """No grace and an open window: the slot is now, so the one mirror before the send
    (Scheduled, a moment before Sending) is skipped; every later change is mirrored."""
    handle = await harness.start(timedelta(0), grace=timedelta(0))

    await handle.result()

    assert harness.fakes.positions_sent == [1]
    mirrored = [state.steps[0].status for state in harness.fakes.recorded]
    assert StepStatus.SCHEDULED not in mirrored
    assert mirrored[0] is StepStatus.SENT
    assert harness.fakes.recorded[-1].status is ProspectStatus.COMPLETED


async def test_a_sequence_started_as_the_old_type_runs_to_the_end(harness: Harness) -> None:
    handle = await harness.start(
        timedelta(0), timedelta(days=1), grace=timedelta(0), workflow_type="Enrollment"
    )

    final = await handle.result()

    assert harness.fakes.positions_sent == [1, 2]
    assert final.status is ProspectStatus.COMPLETED
    markers, upserted = await markers_and_upserts(handle)
    assert PATCH_MARKER in markers
    assert "TemporalChangeVersion" in upserted
    # It mirrors the first step as Scheduled before sending it, as it always did.
    assert harness.fakes.recorded[0].steps[0].status is StepStatus.SCHEDULED


async def test_a_retried_prospect_is_listed_as_retried_while_its_send_goes(
    harness: Harness,
) -> None:
    """Found by the SMTP-fault drill: the mirror skipped before a send due at once kept a
    retried prospect listed Failed until its send ended (a minute and more when deferred)."""
    harness.fakes.failures = ["transient"] * 3
    handle = await harness.start(timedelta(0), grace=timedelta(0))
    await until(harness, handle, lambda s: s.awaiting_retry)
    assert harness.fakes.recorded[-1].status is ProspectStatus.FAILED
    harness.fakes.gate = asyncio.Event()
    harness.fakes.send_started.clear()

    await handle.execute_update(EnrollmentWorkflow.retry, RetryRequest())
    await asyncio.wait_for(harness.fakes.send_started.wait(), timeout=30)

    listed = harness.fakes.recorded[-1]
    assert listed.status is ProspectStatus.NOT_STARTED
    assert listed.steps[0].status is StepStatus.SCHEDULED
    harness.fakes.gate.set()
    assert (await handle.result()).status is ProspectStatus.COMPLETED


async def test_a_resumed_prospect_is_listed_as_resumed_while_its_send_goes(
    harness: Harness,
) -> None:
    handle = await harness.start(timedelta(0), grace=timedelta(minutes=30))
    await handle.signal(EnrollmentWorkflow.pause)
    await until(harness, handle, lambda s: s.status is ProspectStatus.PAUSED)
    await harness.env.sleep(timedelta(hours=2))  # the first step comes due meanwhile
    assert harness.fakes.recorded[-1].status is ProspectStatus.PAUSED
    harness.fakes.gate = asyncio.Event()

    await handle.signal(EnrollmentWorkflow.resume)
    await asyncio.wait_for(harness.fakes.send_started.wait(), timeout=30)

    assert harness.fakes.recorded[-1].status is ProspectStatus.NOT_STARTED
    harness.fakes.gate.set()
    assert (await handle.result()).status is ProspectStatus.COMPLETED
