"""A campaign's steps, also while it runs: add, edit, delete, and skip for everyone.

The rules (a step with active recipients cannot be deleted, only skipped) are
in ``campaigns.steps``; a running campaign's workflows then receive the new
plan through the ``revise_steps`` fan-out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from outbound.api.deps import SettingsDep, TemporalDep
from outbound.campaigns import steps as campaign_steps
from outbound.campaigns.controls import signal_everyone
from outbound.campaigns.views import campaign_public
from outbound.domain.campaigns import CampaignPublic, StepCreate, StepEdit
from outbound.settings import Settings
from outbound.store.tables import Campaign

router = APIRouter(prefix="/campaigns/{campaign_id}/steps", tags=["steps"])

Position = Annotated[int, Path(ge=1)]


@router.post("", status_code=201)
async def add_step(
    campaign_id: int,
    body: StepCreate,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignPublic:
    """Add a step at the end; prospects still in the sequence will get it too."""
    return await _change(
        request,
        temporal,
        settings,
        campaign_id,
        lambda session: campaign_steps.append_step(session, campaign_id, body),
    )


@router.patch("/{position}")
async def edit_step(
    campaign_id: int,
    position: Position,
    body: StepEdit,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignPublic:
    """Change a step nobody has reached yet (409 naming how many have, otherwise)."""
    return await _change(
        request,
        temporal,
        settings,
        campaign_id,
        lambda session: campaign_steps.edit_step(session, campaign_id, position, body),
    )


@router.delete("/{position}")
async def delete_step(
    campaign_id: int,
    position: Position,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignPublic:
    """Delete a step nobody has reached; later steps move up. A step with active
    recipients cannot be deleted (409 with the count): skip it for everyone instead."""
    return await _change(
        request,
        temporal,
        settings,
        campaign_id,
        lambda session: campaign_steps.delete_step(session, campaign_id, position),
    )


@router.post("/{position}/skip")
async def skip_for_everyone(
    campaign_id: int,
    position: Position,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CampaignPublic:
    """Nobody gets this step from now on: a prospect waiting for it moves on to the next
    (a message being sent finishes); prospects who already got it keep it in their history."""
    return await _change(
        request,
        temporal,
        settings,
        campaign_id,
        lambda session: campaign_steps.skip_for_everyone(session, campaign_id, position),
    )


async def _change(
    request: Request,
    temporal: Client,
    settings: Settings,
    campaign_id: int,
    change: Callable[[Session], bool],
) -> CampaignPublic:
    """Apply ``change``; if the campaign runs, hand every workflow the new plan."""
    engine: Engine = request.app.state.engine

    def apply() -> tuple[bool, CampaignPublic, int]:
        with Session(engine) as session:
            running = change(session)
            campaign = session.get_one(Campaign, campaign_id)
            return running, campaign_public(session, campaign), campaign.workspace_id

    running, campaign, workspace_id = await asyncio.to_thread(apply)
    if running:
        await signal_everyone(temporal, settings, workspace_id, campaign_id, "revise_steps")
    return campaign
