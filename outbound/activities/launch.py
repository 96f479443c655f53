"""One batch of a campaign's start fan-out: start the workflows of the next enrollments."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from outbound.activities.heartbeat import heartbeating
from outbound.campaigns.start import LaunchPlan, enrollment_plan, launch, mark_launched
from outbound.campaigns.steps import current_plans
from outbound.domain.launch import LaunchBatch, LaunchBatchResult
from outbound.domain.problems import ProblemError
from outbound.domain.search_attributes import enrollment_workflow_id
from outbound.domain.sequence import StepPlan
from outbound.domain.statuses import CampaignStatus
from outbound.settings import Settings
from outbound.store.tables import Campaign, Enrollment


class LaunchActivities:
    """Needs the worker's Temporal client: starting workflows is this activity's side effect."""

    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self._engine = engine
        self._client = client
        self._settings = settings

    @activity.defn(name="start_enrollment_batch")
    async def start_enrollment_batch(self, batch: LaunchBatch) -> LaunchBatchResult:
        """Idempotent: a retry finds the same enrollments (or fewer) and "already started"."""
        plan = await asyncio.to_thread(self._plan, batch)
        if plan is None:
            return LaunchBatchResult(last_enrollment_id=None, started=0, already_running=0)
        async with heartbeating():
            started, already = await launch(self._client, self._settings, plan)
            await asyncio.to_thread(mark_launched, self._engine, plan)
            await self._catch_up_on_step_edits(plan)
        last = max(request.enrollment_id for request in plan.inputs)
        return LaunchBatchResult(last_enrollment_id=last, started=started, already_running=already)

    async def _catch_up_on_step_edits(self, plan: LaunchPlan) -> None:
        """Steps edited while this batch started may have missed its workflows (the edit's
        fan-out only signals workflows already recorded): hand them the current plan."""

        def plans_now() -> list[StepPlan]:
            with Session(self._engine) as session:
                return current_plans(session, plan.campaign_id)

        current = await asyncio.to_thread(plans_now)
        if current == plan.inputs[0].steps:
            return
        for request in plan.inputs:
            workflow_id = enrollment_workflow_id(request.campaign_id, request.prospect_id)
            with contextlib.suppress(RPCError):  # ended already: nothing to revise
                await self._client.get_workflow_handle(workflow_id).signal("revise_steps", current)

    def _plan(self, batch: LaunchBatch) -> LaunchPlan | None:
        with Session(self._engine) as session:
            campaign = session.get_one(Campaign, batch.campaign_id)
            if campaign.status in (CampaignStatus.STOPPED, CampaignStatus.PAUSED):
                return None  # stopped or paused meanwhile: start nobody (Resume starts the rest)
            ids = list(
                session.exec(
                    select(Enrollment.id)
                    .where(
                        Enrollment.campaign_id == batch.campaign_id,
                        col(Enrollment.id) > batch.after_enrollment_id,
                    )
                    .order_by(col(Enrollment.id))
                    .limit(batch.size)
                )
            )
            if not ids:
                return None
            try:
                return enrollment_plan(
                    session,
                    campaign,
                    batch.started_at,
                    only_unstarted=False,
                    enrollment_ids=[i for i in ids if i is not None],
                )
            except ProblemError as problem:  # checked at Start; a later edit broke a template
                raise ApplicationError(
                    "; ".join(p.reason for p in problem.problems),
                    type="TemplateFieldMissing",
                    non_retryable=True,
                ) from None
