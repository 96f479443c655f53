"""One prospect in one campaign: its steps and message log, and the controls.

Controls are signals or updates to the prospect's workflow, which owns the
sequence (``campaigns.prospect_controls``); the answer carries the workflow's
live state, read by a query right after.
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
from temporalio.service import RPCError

from outbound.api.deps import SessionDep, SettingsDep, TemporalDep
from outbound.campaigns import prospect_controls
from outbound.campaigns.enroll import add_to_other_campaign
from outbound.campaigns.prospect_controls import (
    deliver_signal,
    retry_enrollment,
    workflow_of,
)
from outbound.campaigns.views import enrollment_detail
from outbound.domain.bulk import AddToCampaign, ProspectAction
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.prospects import AddressOverride
from outbound.domain.sequence import EnrollmentState, ManualReply, RetryRequest, SkipRequest
from outbound.domain.statuses import ProspectStatus
from outbound.domain.views import AddProspectsResult, EnrollmentDetail
from outbound.store.tables import Enrollment

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
    return await _query(workflow_of(temporal, enrollment))


@router.post("/pause")
async def pause(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Hold this prospect's sequence; nothing is sent until resume."""
    return await _control(request, temporal, campaign_id, prospect_id, ProspectAction.PAUSE)


@router.post("/resume")
async def resume(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Continue a paused sequence; a step that came due meanwhile gets a new slot."""
    return await _control(request, temporal, campaign_id, prospect_id, ProspectAction.RESUME)


@router.post("/stop")
async def stop(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """End this prospect's sequence; a send already in flight finishes and is recorded."""
    return await _control(request, temporal, campaign_id, prospect_id, ProspectAction.STOP)


@router.post("/mark-finished")
async def mark_finished(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Mark the prospect finished: Completed (MarkedFinished), history kept; cannot be undone."""
    return await _control(request, temporal, campaign_id, prospect_id, ProspectAction.MARK_FINISHED)


@router.post("/remove")
async def remove(
    campaign_id: int, prospect_id: int, request: Request, temporal: TemporalDep
) -> EnrollmentState:
    """Remove the prospect from the campaign: no further messages, and its step progress is
    deleted (the message log of what was really sent stays)."""
    return await _control(request, temporal, campaign_id, prospect_id, ProspectAction.REMOVE)


@router.post("/skip")
async def skip_step(
    campaign_id: int,
    prospect_id: int,
    request: Request,
    temporal: TemporalDep,
    body: Annotated[SkipRequest | None, Body()] = None,
) -> EnrollmentState:
    """Skip the step in progress (waiting for its time, a manual task, or Failed).

    Skipping the last step completes the sequence. A step being sent cannot be skipped (409).
    """
    return await _control(
        request, temporal, campaign_id, prospect_id, ProspectAction.SKIP_STEP, skip=body
    )


@router.post("/tasks/{position}/complete")
async def complete_task(
    campaign_id: int,
    prospect_id: int,
    position: Annotated[int, Path(ge=1)],
    request: Request,
    temporal: TemporalDep,
) -> EnrollmentState:
    """Check a manual task off the to-do list: the step shows Sent and the sequence goes on."""
    enrollment = await _load(request.app.state.engine, campaign_id, prospect_id)
    return await prospect_controls.complete_task(temporal, enrollment, position)


@router.post("/add-to-campaign", status_code=201)
async def add_to_campaign(
    campaign_id: int,
    prospect_id: int,
    body: AddToCampaign,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> AddProspectsResult:
    """Add the prospect to another campaign; with ``move`` also remove it from this one.

    Nothing changes here if the other campaign refuses the prospect.
    """
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    return await add_to_other_campaign(engine, temporal, settings, enrollment, body)


@router.post("/reply")
async def mark_replied(
    campaign_id: int,
    prospect_id: int,
    request: Request,
    temporal: TemporalDep,
    reply: Annotated[ManualReply | None, Body()] = None,
) -> EnrollmentState:
    """Record that the prospect replied: the sequence stops (Replied)."""
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    if ProspectStatus(enrollment.status).is_terminal:
        raise conflict("status", f"the sequence has already ended ({enrollment.status})")
    handle = workflow_of(temporal, enrollment)
    await asyncio.to_thread(_record_reply, engine, enrollment.id or 0)
    payload = reply or ManualReply(received_at=datetime.now(UTC))
    await deliver_signal(handle, "mark_replied", payload)
    return await _query(handle)


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
        await deliver_signal(workflow_of(temporal, enrollment), "change_address", body.address)

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
    handle = workflow_of(temporal, enrollment)
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


async def _control(
    request: Request,
    temporal: Client,
    campaign_id: int,
    prospect_id: int,
    action: ProspectAction,
    *,
    skip: SkipRequest | None = None,
) -> EnrollmentState:
    """Apply ``action``; the answer is the workflow's live state right after."""
    engine: Engine = request.app.state.engine
    enrollment = await _load(engine, campaign_id, prospect_id)
    await prospect_controls.apply(engine, temporal, enrollment, action, skip=skip)
    if enrollment.workflow_id is None:  # settled before its workflow started
        stored = await _load(engine, campaign_id, prospect_id)
        return EnrollmentState(
            enrollment_id=stored.id or 0, status=ProspectStatus(stored.status), reason=stored.reason
        )
    return await _query(workflow_of(temporal, enrollment))


def _record_reply(engine: Engine, enrollment_id: int) -> None:
    """Recorded first: the send activity's last look before MAIL FROM reads it."""
    with Session(engine) as session:
        row = session.get_one(Enrollment, enrollment_id)
        if row.halt_status is None:
            row.halt_status = ProspectStatus.REPLIED.value
            session.add(row)
            session.commit()
