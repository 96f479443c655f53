"""Campaigns: create with steps, add prospects (JSON or CSV), start, and watch progress."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from outbound.api.auth import CallerDep, usable_mailbox, usable_sms_sender
from outbound.api.deps import (
    AccessTokensDep,
    ConnectionChecksDep,
    KeyringDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from outbound.campaigns import controls as campaign_controls
from outbound.campaigns import start as campaign_start
from outbound.campaigns.channel_counts import channel_messages
from outbound.campaigns.enroll import enroll
from outbound.campaigns.export import export_csv
from outbound.campaigns.preview import schedule_preview
from outbound.campaigns.sms_start import check_sms_consent, check_sms_sender
from outbound.campaigns.steps import step_row, template_problems
from outbound.campaigns.views import campaign_public, enrollment_summaries
from outbound.domain.campaigns import (
    CampaignCreate,
    CampaignPublic,
    CampaignTracking,
    StartCampaign,
)
from outbound.domain.company_rules import stored_rule
from outbound.domain.metrics import CampaignMetrics
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.prospect_csv import parse_prospects_csv
from outbound.domain.prospects import MAX_PROSPECTS_PER_REQUEST, ProspectCreate
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.domain.views import (
    AddProspectsResult,
    CampaignDetail,
    ControlResult,
    SchedulePreview,
    StartResult,
    StopResult,
)
from outbound.store.sending_rules import default_caps
from outbound.store.tables import Campaign, Enrollment
from outbound.tracking.metrics import campaign_metrics

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

MAX_CSV_BYTES = 20 * 1024 * 1024


@router.post("", status_code=201)
def create_campaign(
    body: CampaignCreate, session: SessionDep, settings: SettingsDep, caller: CallerDep
) -> CampaignPublic:
    """Create a campaign (Draft until it has prospects) with its ordered steps; its owner is
    the caller, and a member may only send through a mailbox (and an SMS sender) shared with
    them. Email steps need ``mailbox_id``, sms steps ``sms_sender_id``."""
    for mailbox_id in dict.fromkeys([*body.mailbox_pool, body.mailbox_id]):
        if mailbox_id is not None:
            usable_mailbox(
                session,
                caller,
                mailbox_id,
                field="mailbox_pool" if body.mailbox_pool else "mailbox_id",
            )
    if body.sms_sender_id is not None:
        usable_sms_sender(session, caller, body.sms_sender_id)
    problems = template_problems(list(enumerate(body.steps)))
    if problems:
        raise ProblemError(422, problems)
    grace = body.grace_seconds if body.grace_seconds is not None else settings.default_grace_seconds
    campaign = Campaign(
        workspace_id=caller.workspace_id,
        name=body.name,
        owner_user_id=caller.user_id,
        mailbox_id=body.mailbox_id,
        sms_sender_id=body.sms_sender_id,
        status=CampaignStatus.DRAFT.value,
        grace_seconds=grace,
        send_days=[day.number for day in body.send_days] if body.send_days else None,
        send_start=body.send_start,
        send_end=body.send_end,
        address_preference=body.address_preference.value if body.address_preference else None,
        only_preferred_type=body.only_preferred_type,
        time_zone_source=body.time_zone_source.value,
        when_to_send=body.when_to_send.value,
        specific_time=body.specific_time,
        track_opens=body.track_opens,
        track_clicks=body.track_clicks,
        mailbox_pool=body.mailbox_pool,
        holiday_calendar=body.holiday_calendar,
        blackout_dates=[d.isoformat() for d in body.blackout_dates],
        company_rule=stored_rule(body.company_rule),
        one_per_company=body.one_per_company,
    )
    session.add(campaign)
    session.flush()
    assert campaign.id is not None
    for position, step in enumerate(body.steps, start=1):
        session.add(step_row(campaign.id, position, step))
    session.commit()
    session.refresh(campaign)
    return campaign_public(session, campaign)


@router.get("")
def list_campaigns(
    session: SessionDep,
    caller: CallerDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CampaignPublic]:
    """The workspace's campaigns (a member: their own), newest first."""
    query = select(Campaign)
    if not caller.is_admin:
        query = query.where(Campaign.owner_user_id == caller.user_id)
    campaigns = session.exec(query.order_by(col(Campaign.id).desc()).offset(offset).limit(limit))
    return [campaign_public(session, c) for c in campaigns]


@router.get("/{campaign_id}")
def get_campaign(
    campaign_id: int,
    session: SessionDep,
    status: ProspectStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CampaignDetail:
    """The campaign with each prospect's status and each step's status (paged)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    counts = dict(
        session.exec(
            select(Enrollment.status, func.count())
            .where(Enrollment.campaign_id == campaign_id)
            .group_by(Enrollment.status)
        ).all()
    )
    return CampaignDetail(
        campaign=campaign_public(session, campaign),
        counts={ProspectStatus(k): v for k, v in counts.items()},
        total_prospects=sum(counts.values()),
        workflows_started=session.exec(
            select(func.count()).where(
                Enrollment.campaign_id == campaign_id, col(Enrollment.workflow_id).is_not(None)
            )
        ).one(),
        prospects=enrollment_summaries(
            session, campaign_id, status=status, offset=offset, limit=limit
        ),
        messages=channel_messages(session, campaign_id),
    )


@router.put("/{campaign_id}/tracking")
def set_tracking(campaign_id: int, body: CampaignTracking, session: SessionDep) -> CampaignPublic:
    """Switch open or click tracking on or off; messages sent from now on follow it."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    campaign.track_opens, campaign.track_clicks = body.track_opens, body.track_clicks
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign_public(session, campaign)


@router.get("/{campaign_id}/metrics")
def metrics(campaign_id: int, session: SessionDep) -> CampaignMetrics:
    """Sent, delivered, bounced, opened, clicked, replied and opted out, per step and for
    the campaign, as prospects and as a share of all prospects in the campaign."""
    if session.get(Campaign, campaign_id) is None:
        raise not_found("campaign", campaign_id)
    return campaign_metrics(session, campaign_id)


@router.get(
    "/{campaign_id}/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export(campaign_id: int, request: Request) -> StreamingResponse:
    """Every prospect with status and engagement, as CSV (one row per prospect)."""
    engine: Engine = request.app.state.engine
    with Session(engine) as session:
        if session.get(Campaign, campaign_id) is None:
            raise not_found("campaign", campaign_id)

    def chunks() -> Iterator[str]:
        with Session(engine) as session:
            yield from export_csv(session, campaign_id)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


@router.get("/{campaign_id}/schedule-preview")
async def preview_schedule(
    campaign_id: int,
    request: Request,
    settings: SettingsDep,
    start_at: AwareDatetime | None = None,
    prospects: Annotated[
        int, Query(ge=0, le=10_000, description="How many prospects to list.")
    ] = 100,
) -> SchedulePreview:
    """Forecast every step's send time if the campaign started now (or at ``start_at``),
    under its current settings and the mailbox's existing reservations."""
    when = (start_at or datetime.now(UTC)).astimezone(UTC)
    return await asyncio.to_thread(
        schedule_preview,
        request.app.state.engine,
        campaign_id,
        when,
        prospects,
        default_caps(settings),
    )


@router.post("/{campaign_id}/prospects", status_code=201)
async def add_prospects(
    campaign_id: int,
    body: Annotated[list[ProspectCreate], Field(max_length=MAX_PROSPECTS_PER_REQUEST)],
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    allow_other_active: bool = False,
    allow_recontact: bool = False,
    ignore_cooldown: bool = False,
) -> AddProspectsResult:
    """Add prospects to the campaign (at most 10,000 per request); those already in it
    are left as they are.

    A prospect still active in another campaign is refused (409 naming it)
    unless ``allow_other_active`` is true; one whose last sequence ended Replied,
    Bounced or OptedOut unless ``allow_recontact`` is true; one whose sequence ended within
    the workspace's re-contact cooldown (409 naming the day they become eligible) unless
    ``ignore_cooldown`` is true.
    """
    return await enroll(
        request.app.state.engine,
        temporal,
        settings,
        campaign_id,
        body,
        allow_other_active=allow_other_active,
        allow_recontact=allow_recontact,
        ignore_cooldown=ignore_cooldown,
    )


@router.post("/{campaign_id}/prospects/csv", status_code=201)
async def import_prospects_csv(
    campaign_id: int,
    file: UploadFile,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    allow_other_active: bool = False,
    allow_recontact: bool = False,
    ignore_cooldown: bool = False,
) -> AddProspectsResult:
    """Add prospects from a CSV file (see the README for its columns); all rows or none."""
    raw = await file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise ProblemError(413, [Problem(field="file", reason="CSV larger than 20 MB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(422, [Problem(field="file", reason="CSV must be UTF-8 text")]) from None
    prospects, problems = parse_prospects_csv(text)
    if problems:
        raise ProblemError(
            422,
            [
                Problem(field=f"row {p.row}: {p.field}" if p.row else p.field, reason=p.reason)
                for p in problems[:100]
            ],
        )
    if not prospects:
        raise ProblemError(422, [Problem(field="file", reason="CSV has no prospect rows")])
    return await enroll(
        request.app.state.engine,
        temporal,
        settings,
        campaign_id,
        prospects,
        allow_other_active=allow_other_active,
        allow_recontact=allow_recontact,
        ignore_cooldown=ignore_cooldown,
    )


@router.post("/{campaign_id}/start", status_code=202)
async def start_campaign(
    campaign_id: int,
    body: StartCampaign,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    checks: ConnectionChecksDep,
    tokens: AccessTokensDep,
) -> StartResult:
    """Start sending: requires the consent attestation (for texts too, when the campaign
    has sms steps), a mailbox that logs in and an SMS sender that is connected.

    Answers once the checks pass; a fan-out workflow then starts the sequences in
    batches (the campaign's ``workflows_started`` shows how far it is). First
    sends happen after the grace delay. Repeating Start is safe.
    """
    engine: Engine = request.app.state.engine
    plan = await asyncio.to_thread(campaign_start.prepare_start, engine, campaign_id)
    if plan.has_sms:
        check_sms_consent(body.consent)
    if plan.sms_sender_id is not None:
        await asyncio.to_thread(_check_sender, engine, plan.sms_sender_id)
    if plan.mailbox_pool:
        await campaign_start.check_pool(engine, keyring, plan.mailbox_pool, checks, tokens)
    elif plan.mailbox_id is not None:
        await campaign_start.check_mailbox(engine, keyring, plan.mailbox_id, checks, tokens)
    await asyncio.to_thread(campaign_start.mark_started, engine, plan, body.consent)
    workflow_id = await campaign_start.start_fan_out(temporal, settings, plan)
    return StartResult(
        campaign_id=campaign_id,
        to_start=len(plan.inputs),
        already_running=plan.already_started,
        first_send_not_before=plan.first_send_not_before,
        launch_workflow_id=workflow_id,
    )


def _check_sender(engine: Engine, sender_id: int) -> None:
    with Session(engine) as session:
        check_sms_sender(session, sender_id)


@router.post("/{campaign_id}/stop", status_code=202)
async def stop_campaign(
    campaign_id: int,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> StopResult:
    """Stop every prospect: nothing more is sent from the moment this answers.

    A message already being sent finishes and is recorded. Stopping again is safe.
    """
    engine: Engine = request.app.state.engine
    halted = await asyncio.to_thread(campaign_controls.mark_stopped, engine, campaign_id)
    workflow_id = await campaign_controls.signal_everyone(
        temporal, settings, caller.workspace_id, campaign_id, "stop"
    )
    return StopResult(
        campaign_id=campaign_id, prospects_stopped=halted, control_workflow_id=workflow_id
    )


@router.post("/{campaign_id}/pause", status_code=202)
async def pause_campaign(
    campaign_id: int,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> ControlResult:
    """Hold every prospect's sequence; a message already being sent finishes."""
    await asyncio.to_thread(
        campaign_controls.mark_paused, request.app.state.engine, campaign_id, paused=True
    )
    workflow_id = await campaign_controls.signal_everyone(
        temporal, settings, caller.workspace_id, campaign_id, "pause"
    )
    return ControlResult(
        campaign_id=campaign_id, status=CampaignStatus.PAUSED, control_workflow_id=workflow_id
    )


@router.post("/{campaign_id}/resume", status_code=202)
async def resume_campaign(
    campaign_id: int,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> ControlResult:
    """Continue every paused sequence; what came due meanwhile is re-slotted, not flooded."""
    await asyncio.to_thread(
        campaign_controls.mark_paused, request.app.state.engine, campaign_id, paused=False
    )
    workflow_id = await campaign_controls.signal_everyone(
        temporal, settings, caller.workspace_id, campaign_id, "resume"
    )
    # Prospects whose start the pause held back (fan-out, or added meanwhile) start now.
    plan = await asyncio.to_thread(
        partial(campaign_start.prepare_start, resuming=True), request.app.state.engine, campaign_id
    )
    if plan.inputs:
        await campaign_start.start_fan_out(temporal, settings, plan)
    return ControlResult(
        campaign_id=campaign_id, status=CampaignStatus.IN_PROGRESS, control_workflow_id=workflow_id
    )
