"""One batch of a campaign-wide control: signal the next enrollments' workflows."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound.activities.heartbeat import heartbeating
from outbound.campaigns.steps import current_plans
from outbound.domain.launch import SignalBatch, SignalBatchResult
from outbound.domain.sequence import StepPlan
from outbound.store.tables import Enrollment

_SIGNAL_CONCURRENCY = 32


class SignalAllActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="signal_enrollment_batch")
    async def signal_enrollment_batch(self, batch: SignalBatch) -> SignalBatchResult:
        """Idempotent: each signal is a no-op when repeated or when the sequence has ended."""
        rows = await asyncio.to_thread(self._next, batch)
        if not rows:
            return SignalBatchResult(last_enrollment_id=None, signalled=0)
        arguments: list[object] = []
        if batch.signal == "revise_steps":  # the plan as it is now, not when the edit began
            arguments = [await asyncio.to_thread(self._plans, batch.campaign_id)]
        semaphore = asyncio.Semaphore(_SIGNAL_CONCURRENCY)

        async def send(workflow_id: str) -> bool:
            async with semaphore:
                try:
                    handle = self._client.get_workflow_handle(workflow_id)
                    await handle.signal(batch.signal, *arguments)
                except RPCError as error:
                    if error.status is RPCStatusCode.NOT_FOUND:
                        return False  # already ended (completed, failed for good, removed)
                    raise
                return True

        async with heartbeating():
            outcomes = await asyncio.gather(*(send(workflow_id) for _, workflow_id in rows))
        return SignalBatchResult(last_enrollment_id=rows[-1][0], signalled=sum(outcomes))

    def _plans(self, campaign_id: int) -> list[StepPlan]:
        with Session(self._engine) as session:
            return current_plans(session, campaign_id)

    def _next(self, batch: SignalBatch) -> list[tuple[int, str]]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(Enrollment.id, Enrollment.workflow_id)
                .where(
                    Enrollment.campaign_id == batch.campaign_id,
                    col(Enrollment.id) > batch.after_enrollment_id,
                    col(Enrollment.workflow_id).is_not(None),
                )
                .order_by(col(Enrollment.id))
                .limit(batch.size)
            ).all()
            return [(i, w) for i, w in rows if i is not None and w is not None]
