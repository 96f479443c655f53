"""Actions on many prospects of a campaign at once: each is the per-prospect action, in turn."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.api.deps import TemporalDep
from outbound.api.routes.enrollments import retry_enrollment
from outbound.domain.bulk import BulkResult, BulkRetry
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.sequence import RetryRequest
from outbound.domain.statuses import ProspectStatus
from outbound.store.tables import Campaign, Enrollment

router = APIRouter(prefix="/campaigns/{campaign_id}", tags=["bulk actions"])

_CONCURRENCY = 16


@router.post("/retry")
async def retry_many(
    campaign_id: int, body: BulkRetry, request: Request, temporal: TemporalDep
) -> BulkResult:
    """Retry the Failed step of many prospects; the answer lists any that could not be."""
    engine: Engine = request.app.state.engine
    enrollments = await asyncio.to_thread(_chosen, engine, campaign_id, body.prospect_ids)
    retry = RetryRequest(bypass_validation=body.bypass_validation)
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(enrollment: Enrollment) -> Problem | None:
        async with semaphore:
            try:
                await retry_enrollment(engine, temporal, enrollment, retry)
            except ProblemError as error:
                return Problem(
                    field=f"prospect {enrollment.prospect_id}",
                    reason=error.problems[0].reason,
                    prospect_ids=[enrollment.prospect_id],
                )
            return None

    outcomes = await asyncio.gather(*(one(e) for e in enrollments))
    refused = [problem for problem in outcomes if problem is not None]
    unknown = sorted(set(body.prospect_ids or []) - {e.prospect_id for e in enrollments})
    refused += [
        Problem(field=f"prospect {pid}", reason="not in this campaign", prospect_ids=[pid])
        for pid in unknown
    ]
    done = [e.prospect_id for e, problem in zip(enrollments, outcomes, strict=True) if not problem]
    return BulkResult(done=done, refused=refused)


def _chosen(engine: Engine, campaign_id: int, prospect_ids: list[int] | None) -> list[Enrollment]:
    with Session(engine) as session:
        if session.get(Campaign, campaign_id) is None:
            raise not_found("campaign", campaign_id)
        query = select(Enrollment).where(Enrollment.campaign_id == campaign_id)
        if prospect_ids is None:
            query = query.where(Enrollment.status == ProspectStatus.FAILED.value)
        else:
            query = query.where(col(Enrollment.prospect_id).in_(prospect_ids))
        return list(session.exec(query.order_by(col(Enrollment.id))))
