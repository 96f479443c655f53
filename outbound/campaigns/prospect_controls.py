"""The controls on one prospect in a campaign, shared by the per-prospect routes and bulk actions.

Each control is a signal or an update to the prospect's workflow, which owns
the sequence. Stop, mark finished and remove are recorded in the database
first (``halt_status``): the send activity's last look before MAIL FROM reads
it, so a send about to start does not go out after the user's click. A
prospect whose workflow has not started yet (campaign Ready, or still in the
start fan-out) is settled in the database alone, and the fan-out skips it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from outbound.domain.bulk import ProspectAction
from outbound.domain.problems import conflict
from outbound.domain.sequence import EnrollmentState, RetryRequest, SkipRequest
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.store.tables import Campaign, Enrollment

UPDATE_TIMEOUT = timedelta(seconds=30)
MARKED_FINISHED = "MarkedFinished"


_SIGNALS = {
    ProspectAction.PAUSE: "pause",
    ProspectAction.RESUME: "resume",
    ProspectAction.STOP: "stop",
    ProspectAction.MARK_FINISHED: "mark_finished",
    ProspectAction.REMOVE: "remove",
}
_HALTS = {
    ProspectAction.STOP: ProspectStatus.STOPPED,
    ProspectAction.MARK_FINISHED: ProspectStatus.COMPLETED,
    ProspectAction.REMOVE: ProspectStatus.REMOVED,
}


async def apply(
    engine: Engine,
    temporal: Client,
    enrollment: Enrollment,
    action: ProspectAction,
    *,
    retry: RetryRequest | None = None,
    skip: SkipRequest | None = None,
) -> None:
    """Carry out ``action``; a ProblemError (409) says why it cannot be done."""
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")
    if enrollment.halt_status is not None:  # the database mirror has not caught up yet
        raise conflict("status", f"the sequence is ending ({enrollment.halt_status})")
    if action is ProspectAction.RETRY:
        await retry_enrollment(engine, temporal, enrollment, retry or RetryRequest())
        return
    halts_as = _HALTS.get(action)
    if enrollment.workflow_id is None:
        if halts_as is None:
            raise conflict("status", "the campaign has not started for this prospect (NotStarted)")
        await asyncio.to_thread(_settle_unstarted, engine, enrollment.id or 0, halts_as)
        return
    handle = workflow_of(temporal, enrollment)
    if halts_as is not None:
        await asyncio.to_thread(_record_halt, engine, enrollment.id or 0, halts_as)
    if action is ProspectAction.SKIP_STEP:
        await _update(handle, "skip_step", skip or SkipRequest(), field="position")
        return
    await deliver_signal(handle, _SIGNALS[action])


def workflow_of(
    temporal: Client, enrollment: Enrollment
) -> WorkflowHandle[object, EnrollmentState]:
    if enrollment.workflow_id is None:
        raise conflict("status", "the campaign has not started for this prospect (NotStarted)")
    return temporal.get_workflow_handle(enrollment.workflow_id, result_type=EnrollmentState)


async def deliver_signal(
    handle: WorkflowHandle[object, EnrollmentState], signal: str, argument: object | None = None
) -> None:
    """Signal the workflow; one that has closed meanwhile is a 409."""
    try:
        if argument is None:
            await handle.signal(signal)
        else:
            await handle.signal(signal, argument)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise conflict("status", "the sequence has already ended") from None
        raise


async def complete_task(temporal: Client, enrollment: Enrollment, position: int) -> EnrollmentState:
    """The user did the manual task of step ``position``; 409 unless it is on the to-do list."""
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")
    return await _update(workflow_of(temporal, enrollment), "complete_task", position, "position")


async def retry_enrollment(
    engine: Engine, temporal: Client, enrollment: Enrollment, retry: RetryRequest
) -> EnrollmentState:
    """Ask the workflow to resume its Failed step; reopens a campaign that had completed."""
    if enrollment.status != ProspectStatus.FAILED:
        raise conflict(
            "status", f"only a Failed prospect can be retried (this one is {enrollment.status})"
        )
    try:
        state = await _update(workflow_of(temporal, enrollment), "retry", retry, "status")
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise conflict(
                "status", "the retry window of this Failed step has closed (30 days)"
            ) from None
        raise
    await asyncio.to_thread(reopen_campaign, engine, enrollment.campaign_id)
    return state


def reopen_campaign(engine: Engine, campaign_id: int) -> None:
    """A campaign that completed with Failed prospects runs again once one is retried."""
    with Session(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        if campaign.status == CampaignStatus.COMPLETED:
            campaign.status = CampaignStatus.IN_PROGRESS.value
            session.add(campaign)
            session.commit()


async def _update(
    handle: WorkflowHandle[object, EnrollmentState], name: str, argument: object, field: str
) -> EnrollmentState:
    """Run a workflow update; a refusal by its validator is a 409 with the workflow's reason."""
    try:
        return await handle.execute_update(
            name, argument, result_type=EnrollmentState, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        reason = str(error.cause.message if isinstance(error.cause, ApplicationError) else error)
        raise conflict(field, reason) from None


def _record_halt(engine: Engine, enrollment_id: int, status: ProspectStatus) -> None:
    with Session(engine) as session:
        row = session.get_one(Enrollment, enrollment_id)
        if row.halt_status is None:
            row.halt_status = status.value
            session.add(row)
            session.commit()


def _settle_unstarted(engine: Engine, enrollment_id: int, status: ProspectStatus) -> None:
    """End a prospect whose workflow never started: the start fan-out will leave it out."""
    with Session(engine) as session:
        row = session.get_one(Enrollment, enrollment_id)
        if row.workflow_id is not None or ProspectStatus(row.status).is_terminal:
            raise conflict("status", "the prospect changed meanwhile; try again")
        row.status, row.halt_status = status.value, status.value
        row.ended_at = datetime.now(UTC)
        row.reason = MARKED_FINISHED if status is ProspectStatus.COMPLETED else None
        session.add(row)
        session.commit()
