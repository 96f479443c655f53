"""Actions on many prospects of a campaign at once: each is the per-prospect action, in turn.

The selection is a list of prospect ids or "every prospect with this status".
Each prospect's action succeeds or is refused on its own; the answer lists
the refused ones with the reason, so a bulk action never half-fails silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.api.deps import SettingsDep, TemporalDep
from outbound.campaigns import prospect_controls
from outbound.campaigns.enroll import add_to_other_campaign
from outbound.domain.bulk import BulkAction, BulkResult, BulkRetry, ProspectAction
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.sequence import RetryRequest
from outbound.domain.statuses import ProspectStatus
from outbound.store.tables import Campaign, Enrollment

router = APIRouter(prefix="/campaigns/{campaign_id}", tags=["bulk actions"])

_CONCURRENCY = 16


@router.post("/bulk")
async def act_on_many(
    campaign_id: int,
    body: BulkAction,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> BulkResult:
    """Pause, resume, stop, mark finished, remove, skip the current step, retry, or add to
    another campaign: the listed prospects, or every prospect with ``status``."""
    engine: Engine = request.app.state.engine
    retry = RetryRequest(bypass_validation=body.bypass_validation)

    async def one(enrollment: Enrollment) -> None:
        if body.action is ProspectAction.ADD_TO_CAMPAIGN:
            assert body.target is not None
            await add_to_other_campaign(engine, temporal, settings, enrollment, body.target)
        else:
            await prospect_controls.apply(engine, temporal, enrollment, body.action, retry=retry)

    return await _each(engine, campaign_id, body.prospect_ids, body.status, one)


@router.post("/retry")
async def retry_many(
    campaign_id: int, body: BulkRetry, request: Request, temporal: TemporalDep
) -> BulkResult:
    """Retry the Failed step of many prospects; the answer lists any that could not be."""
    engine: Engine = request.app.state.engine
    retry = RetryRequest(bypass_validation=body.bypass_validation)

    async def one(enrollment: Enrollment) -> None:
        await prospect_controls.retry_enrollment(engine, temporal, enrollment, retry)

    status = ProspectStatus.FAILED if body.prospect_ids is None else None
    return await _each(engine, campaign_id, body.prospect_ids, status, one)


async def _each(
    engine: Engine,
    campaign_id: int,
    prospect_ids: list[int] | None,
    status: ProspectStatus | None,
    action: Callable[[Enrollment], Awaitable[None]],
) -> BulkResult:
    """Run ``action`` for each chosen enrollment with bounded concurrency; collect refusals."""
    enrollments = await asyncio.to_thread(_chosen, engine, campaign_id, prospect_ids, status)
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def one(enrollment: Enrollment) -> Problem | None:
        async with semaphore:
            try:
                await action(enrollment)
            except ProblemError as error:
                return Problem(
                    field=f"prospect {enrollment.prospect_id}",
                    reason="; ".join(p.reason for p in error.problems),
                    prospect_ids=[enrollment.prospect_id],
                )
            return None

    outcomes = await asyncio.gather(*(one(e) for e in enrollments))
    refused = [problem for problem in outcomes if problem is not None]
    unknown = sorted(set(prospect_ids or []) - {e.prospect_id for e in enrollments})
    refused += [
        Problem(field=f"prospect {pid}", reason="not in this campaign", prospect_ids=[pid])
        for pid in unknown
    ]
    done = [e.prospect_id for e, problem in zip(enrollments, outcomes, strict=True) if not problem]
    return BulkResult(done=done, refused=refused)


def _chosen(
    engine: Engine,
    campaign_id: int,
    prospect_ids: list[int] | None,
    status: ProspectStatus | None,
) -> list[Enrollment]:
    with Session(engine) as session:
        if session.get(Campaign, campaign_id) is None:
            raise not_found("campaign", campaign_id)
        query = select(Enrollment).where(Enrollment.campaign_id == campaign_id)
        if status is not None:
            query = query.where(Enrollment.status == status.value)
        if prospect_ids is not None:
            query = query.where(col(Enrollment.prospect_id).in_(prospect_ids))
        return list(session.exec(query.order_by(col(Enrollment.id))))
