"""Stop a whole campaign: halt every prospect in the database at once, then signal them.

The single UPDATE is what makes Stop immediate for 10,000 prospects: every
send's last look reads ``halt_status`` right before MAIL FROM, so nothing goes
out after this commit except a message already past its last look (it
finishes and is recorded). The signal fan-out then ends the workflows.
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from outbound.domain import search_attributes
from outbound.domain.launch import StopInput
from outbound.domain.problems import conflict, not_found
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.settings import Settings
from outbound.store.tables import Campaign, Enrollment
from outbound.workflows.campaign_stop import stop_workflow_id

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


async def start_stop_fan_out(client: Client, settings: Settings, campaign_id: int) -> str:
    """Start (or join) the campaign's stop fan-out; returns its workflow id."""
    workflow_id = stop_workflow_id(campaign_id)
    await client.start_workflow(
        "CampaignStop",
        StopInput(campaign_id=campaign_id),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search_attributes.CAMPAIGN_ID, str(campaign_id))]
        ),
    )
    return workflow_id
