"""Campaign-wide Stop, Pause and Resume: the database first, then a signal to everyone.

Stop's single UPDATE is what makes it immediate for 10,000 prospects: every
send's last look reads ``halt_status`` right before MAIL FROM, so nothing goes
out after this commit except a message already past its last look (it
finishes and is recorded). Pause and Resume change the campaign's status and
reach the prospects through the signal fan-out; a resumed step that came due
while paused takes a new slot under the mailbox's limits (no flood).
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from outbound.domain.launch import CampaignSignal, SignalAllInput
from outbound.domain.problems import conflict, not_found
from outbound.domain.search_attributes import workflow_attributes
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.settings import Settings
from outbound.store.tables import Campaign, Enrollment
from outbound.workflows.campaign_signal import control_workflow_id, steps_workflow_id

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


def mark_stopped(engine: Engine, campaign_id: int) -> int:
    """Campaign Stopped and every unfinished prospect halted; returns how many were halted."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        if campaign.status == CampaignStatus.COMPLETED:
            raise conflict("status", "campaign is Completed: there is nothing left to stop")
        campaign.status = CampaignStatus.STOPPED.value
        session.add(campaign)
        halted = session.exec(  # type: ignore[call-overload]
            update(Enrollment)
            .where(
                col(Enrollment.campaign_id) == campaign_id,
                col(Enrollment.halt_status).is_(None),
                col(Enrollment.status).not_in(_ENDED),
            )
            .values(halt_status=ProspectStatus.STOPPED.value)
        )
        session.commit()
        return int(halted.rowcount or 0)


def mark_paused(engine: Engine, campaign_id: int, *, paused: bool) -> None:
    """InProgress ↔ Paused; anything else is a 409 naming the status."""
    wanted_from = CampaignStatus.IN_PROGRESS if paused else CampaignStatus.PAUSED
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        if campaign.status != wanted_from:
            action = "paused" if paused else "resumed"
            raise conflict(
                "status", f"campaign is {campaign.status}; only {wanted_from} can be {action}"
            )
        campaign.status = (CampaignStatus.PAUSED if paused else CampaignStatus.IN_PROGRESS).value
        session.add(campaign)
        session.commit()


async def signal_everyone(
    client: Client, settings: Settings, workspace_id: int, campaign_id: int, signal: CampaignSignal
) -> str:
    """Start the campaign's signal fan-out, replacing one still running; returns its id.

    Replacing keeps the order: a Resume right after a Pause ends the Pause's
    fan-out, and its own reaches every prospect (resume is a no-op where pause
    never arrived).
    """
    if signal == "revise_steps":
        workflow_id = steps_workflow_id(campaign_id)
    else:
        workflow_id = control_workflow_id(campaign_id)
    await client.start_workflow(
        "CampaignSignal",
        SignalAllInput(campaign_id=campaign_id, signal=signal),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        search_attributes=workflow_attributes(workspace_id, campaign_id=campaign_id),
    )
    return workflow_id
