"""The to-do list: manual-task steps whose time has come, per user (the campaign's owner).

A task appears when its prospect's workflow reaches it (step status
ManualTask) and leaves when it is completed
(``POST /campaigns/{id}/prospects/{pid}/tasks/{position}/complete``) or
skipped (``…/skip``), or the sequence ends or pauses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from outbound.api.auth import CallerDep, require_admin
from outbound.api.deps import SessionDep
from outbound.campaigns.views import user_label
from outbound.domain.statuses import StepStatus
from outbound.domain.views import TaskItem
from outbound.store.tables import Campaign, Enrollment, EnrollmentStep, Prospect, Step, User

router = APIRouter(prefix="/tasks", tags=["to-do list"])


@router.get("")
def due_tasks(
    session: SessionDep,
    caller: CallerDep,
    user_id: Annotated[
        int | None,
        Query(ge=1, description="Admins: this user's tasks (default: yours)."),
    ] = None,
    everyone: Annotated[bool, Query(description="Admins: every user's tasks.")] = False,
    campaign_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TaskItem]:
    """Your due manual tasks (an admin may ask for another user's, or everyone's), oldest
    first."""
    query = (
        select(EnrollmentStep, Enrollment, Campaign, Prospect)
        .join(Enrollment, col(Enrollment.id) == EnrollmentStep.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .join(Prospect, col(Prospect.id) == Enrollment.prospect_id)
        .where(EnrollmentStep.status == StepStatus.MANUAL_TASK.value)
    )
    if not caller.is_admin and (everyone or user_id not in (None, caller.user_id)):
        require_admin(caller)
    if not everyone:
        query = query.where(Campaign.owner_user_id == (user_id or caller.user_id))
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    rows = session.exec(
        query.order_by(col(EnrollmentStep.scheduled_at), col(EnrollmentStep.id))
        .offset(offset)
        .limit(limit)
    ).all()
    campaign_ids = {campaign.id for _, _, campaign, _ in rows}
    what_to_do = {
        (step.campaign_id, step.position): step.task or ""
        for step in session.exec(select(Step).where(col(Step.campaign_id).in_(campaign_ids)))
    }
    return [
        TaskItem(
            campaign_id=campaign.id or 0,
            campaign_name=campaign.name,
            owner=user_label(session.get(User, campaign.owner_user_id)),
            prospect_id=prospect.id or 0,
            prospect_name=" ".join(p for p in (prospect.first_name, prospect.last_name) if p),
            email=enrollment.to_address,
            position=step_row.position,
            task=what_to_do.get((campaign.id or 0, step_row.position), ""),
            due_at=step_row.scheduled_at,
        )
        for step_row, enrollment, campaign, prospect in rows
    ]
