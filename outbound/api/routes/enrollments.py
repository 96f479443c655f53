"""One prospect in one campaign: its steps and message log, and the controls.

Controls are signals to the prospect's workflow, which owns the sequence; the
answer carries the workflow's live state, read by a query right after.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from outbound.api.deps import SessionDep, TemporalDep
from outbound.campaigns.views import enrollment_detail
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.prospects import AddressOverride
from outbound.domain.sequence import EnrollmentState, ManualReply, RetryRequest
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.domain.views import EnrollmentDetail
from outbound.store.tables import Campaign, Enrollment

router = APIRouter(
    prefix="/campaigns/{campaign_id}/prospects/{prospect_id}", tags=["prospects in a campaign"]
)

QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=30)


@router.get("")
def get_enrollment(campaign_id: int, prospect_id: int, session: SessionDep) -> EnrollmentDetail:
    """Status, step statuses and message log of one prospect in the campaign."""
    return enrollment_detail(session, _enrollment(session, campaign_id, prospect_id))


@router.get("/live")
async def live_state(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """The workflow's own state, answered by its ``state`` query."""
    enrollment = await _load(request.app.state.engine, campaign_id, prospect_id)
    return await _query(_handle(temporal, enrollment))


@router.post("/pause")
async def pause(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Hold this prospect's sequence; nothing is sent until resume."""
    return await _signal(request, temporal, campaign_id, prospect_id, "pause")


@router.post("/resume")
async def resume(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Continue a paused sequence."""
    return await _signal(request, temporal, campaign_id, prospect_id, "resume")


@router.post("/stop")
async def stop(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """End this prospect's sequence; a send already in flight finishes and is recorded."""
    return await _signal(
        request, temporal, campaign_id, prospect_id, "stop", halts_as=ProspectStatus.STOPPED
    )


@router.post("/reply")
async def mark_replied(
    campaign_id: int,
    prospect_id: int,
    request: Request,
    temporal: TemporalDep,
    reply: Annotated[ManualReply | None, Body()] = None,
) -> EnrollmentState:
    """Record that the prospect replied: the sequence stops (Replied)."""
    payload = reply or ManualReply(received_at=datetime.now(UTC))
    return await _signal(
        request,
        temporal,
        campaign_id,
        prospect_id,
        "mark_replied",
        payload,
        halts_as=ProspectStatus.REPLIED,
    )


@router.post("/retry")
async def retry(
    campaign_id: int,
    prospect_id: int,
    request: Request,
    temporal: TemporalDep,
    body: Annotated[RetryRequest | None, Body()] = None,
) -> EnrollmentState:
    """Resume the Failed step (TooManyRetries, NoAddress, …); 409 unless the prospect is Failed.

    ``bypass_validation`` sends even to addresses the address check refused.
    """
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    return await retry_enrollment(engine, temporal, enrollment, body or RetryRequest())


@router.put("/address")
async def change_address(
    campaign_id: int,
    prospect_id: int,
    body: AddressOverride,
    request: Request,
    temporal: TemporalDep,
) -> EnrollmentDetail:
    """Use another address for this prospect in this campaign only (the profile is unchanged).

    Takes effect from the next message; a message being sent goes to the old address.
    """
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")

    def store() -> None:
        with Session(engine) as session:
            row = session.get_one(Enrollment, enrollment.id)
            row.override_address = body.address
            if row.workflow_id is None:
                row.to_address = body.address
            session.add(row)
            session.commit()

    await asyncio.to_thread(store)
    if enrollment.workflow_id is not None:
        await _deliver_signal(_handle(temporal, enrollment), "change_address", body.address)

    def detail() -> EnrollmentDetail:
        with Session(engine) as session:
            return enrollment_detail(session, session.get_one(Enrollment, enrollment.id))

    return await asyncio.to_thread(detail)


@router.post("/messages/{position}/cancel")
async def cancel_message(
    campaign_id: int,
    prospect_id: int,
    position: Annotated[int, Path(ge=1)],
    request: Request,
    temporal: TemporalDep,
) -> EnrollmentState:
    """Cancel a scheduled message from the log: the prospect skips that message.

    A message already being sent (or sent) cannot be canceled: 409 says so.
    """
    enrollment = await _load(request.app.state.engine, campaign_id, prospect_id)
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")
    handle = _handle(temporal, enrollment)
    try:
        return await handle.execute_update(
            "cancel_message", position, result_type=EnrollmentState, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        reason = str(error.cause.message if isinstance(error.cause, ApplicationError) else error)
        raise conflict("position", reason) from None


def _enrollment(session: Session, campaign_id: int, prospect_id: int) -> Enrollment:
    enrollment = session.exec(
        select(Enrollment).where(
            Enrollment.campaign_id == campaign_id, Enrollment.prospect_id == prospect_id
        )
    ).first()
    if enrollment is None:
        raise not_found("prospect", f"{prospect_id} in campaign {campaign_id}")
    return enrollment


async def _load(engine: Engine, campaign_id: int, prospect_id: int) -> Enrollment:
    def load() -> Enrollment:
        with Session(engine) as session:
            return _enrollment(session, campaign_id, prospect_id)

    return await asyncio.to_thread(load)


def _handle(temporal: Client, enrollment: Enrollment) -> WorkflowHandle[object, EnrollmentState]:
    if enrollment.workflow_id is None:
        raise conflict("status", "the campaign has not started for this prospect (NotStarted)")
    return temporal.get_workflow_handle(enrollment.workflow_id, result_type=EnrollmentState)


async def retry_enrollment(
    engine: Engine, temporal: Client, enrollment: Enrollment, retry: RetryRequest
) -> EnrollmentState:
    """Ask the workflow to resume its Failed step; reopens a campaign that had completed."""
    if enrollment.status != ProspectStatus.FAILED:
        raise conflict(
            "status", f"only a Failed prospect can be retried (this one is {enrollment.status})"
        )
    handle = _handle(temporal, enrollment)
    try:
        state = await handle.execute_update(
            "retry", retry, result_type=EnrollmentState, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        reason = str(error.cause.message if isinstance(error.cause, ApplicationError) else error)
        raise conflict("status", reason) from None
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


async def _signal(
    request: Request,
    temporal: Client,
    campaign_id: int,
    prospect_id: int,
    signal: str,
    argument: object | None = None,
    *,
    halts_as: ProspectStatus | None = None,
) -> EnrollmentState:
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")
    handle = _handle(temporal, enrollment)
    if halts_as is not None:
        # Recorded first: the send activity's last look before MAIL FROM reads it,
        # so a send about to start does not go out after the user said stop.
        await asyncio.to_thread(_record_halt, engine, enrollment.id or 0, halts_as)
    await _deliver_signal(handle, signal, argument)
    return await _query(handle)


async def _deliver_signal(
    handle: WorkflowHandle[object, EnrollmentState], signal: str, argument: object | None
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


def _record_halt(engine: Engine, enrollment_id: int, status: ProspectStatus) -> None:
    with Session(engine) as session:
        row = session.get_one(Enrollment, enrollment_id)
        if row.halt_status is None:
            row.halt_status = status.value
            session.add(row)
            session.commit()


async def _query(handle: WorkflowHandle[object, EnrollmentState]) -> EnrollmentState:
    """The live state; a 503 that says why when no worker answers (the signal, if any, stands)."""
    try:
        return await handle.query("state", result_type=EnrollmentState, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        raise ProblemError(
            503,
            [
                Problem(
                    field="workflow",
                    reason="the workflow did not answer (is a worker running?); "
                    f"any control already sent will take effect when it does ({error.status.name})",
                )
            ],
        ) from None
