"""Mirror a workflow's state into the database, where the API lists it.

The workflow is the source of truth; this write is a copy. Each copy carries
the workflow's ``updated_at``, and an older copy never overwrites a newer one,
so a retried or delayed activity cannot roll the listing back.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio import activity

from outbound.domain.sequence import EnrollmentState
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.store.tables import Campaign, Enrollment, EnrollmentStep, utc_now

_SETTLED = [s.value for s in ProspectStatus if s.is_settled]


class RecordActivities:
    """Database writes on behalf of workflows."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_state")
    async def record_state(self, state: EnrollmentState) -> None:
        """Copy ``state`` into the enrollment's rows unless a newer copy is already there."""
        await asyncio.to_thread(self._record, state)

    def _record(self, state: EnrollmentState) -> None:
        with Session(self._engine) as session:
            enrollment = session.exec(
                select(Enrollment).where(Enrollment.id == state.enrollment_id).with_for_update()
            ).one()
            if (
                enrollment.state_version is not None
                and state.updated_at is not None
                and state.updated_at < enrollment.state_version
            ):
                return
            enrollment.status, enrollment.reason = state.status.value, state.reason
            enrollment.current_step, enrollment.to_address = state.current_step, state.to_address
            # A reply read from the inbox is stored by the pipeline before the workflow hears it.
            enrollment.replied_at = state.replied_at or enrollment.replied_at
            enrollment.reply_snippet = state.reply_snippet or enrollment.reply_snippet
            enrollment.state_version = state.updated_at
            enrollment.updated_at = utc_now()
            session.add(enrollment)
            existing = {
                row.position: row
                for row in session.exec(
                    select(EnrollmentStep).where(EnrollmentStep.enrollment_id == enrollment.id)
                )
            }
            if state.status is ProspectStatus.REMOVED:
                # Remove deletes the prospect's progress in the campaign; the message log
                # (what really went out) stays, so nothing is ever sent twice by mistake.
                enrollment.current_step = 0
                for row in existing.values():
                    session.delete(row)
                _complete_campaign_if_done(session, enrollment.campaign_id)
                session.commit()
                return
            stale = set(existing) - {step.position for step in state.steps}
            for position in stale:  # a step deleted from the campaign before it was reached
                session.delete(existing[position])
            for step in state.steps:
                row = existing.get(step.position) or EnrollmentStep(
                    enrollment_id=state.enrollment_id, position=step.position, status=step.status
                )
                row.status, row.scheduled_at = step.status.value, step.scheduled_at
                row.sent_at, row.reason = step.sent_at, step.reason
                session.add(row)
            if state.status.is_settled:
                _complete_campaign_if_done(session, enrollment.campaign_id)
            else:
                _reopen_campaign(session, enrollment.campaign_id)
            session.commit()


def _complete_campaign_if_done(session: Session, campaign_id: int) -> None:
    """A running campaign is Completed once nothing more happens without a user.

    Failed prospects count as settled: a manual Retry reopens the campaign.
    """
    campaign = session.get_one(Campaign, campaign_id)
    if campaign.status != CampaignStatus.IN_PROGRESS:
        return
    still_running = session.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.campaign_id == campaign_id, col(Enrollment.status).not_in(_SETTLED))
    ).one()
    if still_running == 0:
        campaign.status = CampaignStatus.COMPLETED.value
        session.add(campaign)


def _reopen_campaign(session: Session, campaign_id: int) -> None:
    """A late bounce sends a step elsewhere after the campaign had completed: it runs again."""
    campaign = session.get_one(Campaign, campaign_id)
    if campaign.status == CampaignStatus.COMPLETED:
        campaign.status = CampaignStatus.IN_PROGRESS.value
        session.add(campaign)
