"""One batch of a campaign's stop fan-out: signal stop to the next enrollments' workflows."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound.activities.heartbeat import heartbeating
from outbound.domain.launch import StopBatch, StopBatchResult
from outbound.store.tables import Enrollment

_SIGNAL_CONCURRENCY = 32


class StopActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="stop_enrollment_batch")
    async def stop_enrollment_batch(self, batch: StopBatch) -> StopBatchResult:
        """Idempotent: stop is a no-op for a workflow that has already ended."""
        rows = await asyncio.to_thread(self._next, batch)
        if not rows:
            return StopBatchResult(last_enrollment_id=None, signalled=0)
        semaphore = asyncio.Semaphore(_SIGNAL_CONCURRENCY)

        async def stop(workflow_id: str) -> bool:
            async with semaphore:
                try:
                    await self._client.get_workflow_handle(workflow_id).signal("stop")
                except RPCError as error:
                    if error.status is RPCStatusCode.NOT_FOUND:
                        return False  # already ended (completed, failed for good, removed)
                    raise
                return True

        async with heartbeating():
            outcomes = await asyncio.gather(*(stop(workflow_id) for _, workflow_id in rows))
        return StopBatchResult(last_enrollment_id=rows[-1][0], signalled=sum(outcomes))

    def _next(self, batch: StopBatch) -> list[tuple[int, str]]:
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
