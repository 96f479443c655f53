"""The workspace's suppression list: list, add by hand, remove with a reason (admins).

Adding by hand refuses every later send to the address (the send's last look
reads the list; a sequence moves on to the prospect's next address, as after
a hard bounce). Unsubscribes and hard bounces add themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep
from outbound.domain.problems import Problem, ProblemError
from outbound.domain.suppressions import (
    SuppressionCreate,
    SuppressionPage,
    SuppressionPublic,
    SuppressionRemove,
)
from outbound.store.suppressions import find_suppression, lift_suppression, stage_suppression
from outbound.store.tables import Suppression

router = APIRouter(prefix="/suppressions", tags=["suppressions"])


@router.get("")
def list_suppressions(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SuppressionPage:
    """The workspace's listed addresses (each spelling), newest first."""
    listed = (col(Suppression.removed_at).is_(None),)
    total = session.exec(select(func.count()).where(*listed)).one()
    rows = session.exec(
        select(Suppression)
        .where(*listed)
        .order_by(col(Suppression.created_at).desc(), col(Suppression.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return SuppressionPage(
        total=total,
        items=[
            SuppressionPublic(
                address=r.address, source=r.source, detail=r.detail, created_at=r.created_at
            )
            for r in rows
        ],
    )


@router.post("", status_code=201)
def add_suppression(
    body: SuppressionCreate, session: SessionDep, caller: CallerDep
) -> SuppressionPublic:
    """List an address by hand; 409 if it is listed already (the existing reason stays)."""
    existing = find_suppression(session, caller.workspace_id, body.address)
    if existing is not None:
        raise _already(f"already suppressed ({existing.source}: {existing.detail})")
    try:
        stage_suppression(session, caller.workspace_id, body.address, "manual", body.reason)
        session.commit()
    except IntegrityError:  # listed by another request (or an opt-out) at the same moment
        session.rollback()
        raise _already("already suppressed") from None
    entry = find_suppression(session, caller.workspace_id, body.address)
    assert entry is not None
    return SuppressionPublic(
        address=entry.address, source=entry.source, detail=entry.detail, created_at=entry.created_at
    )


@router.post("/remove", dependencies=[ADMIN_ONLY])
def remove_suppression(
    body: SuppressionRemove, session: SessionDep, caller: CallerDep
) -> dict[str, int]:
    """Take every spelling of the address off the list (admins: it lets sends to it go out
    again); 404 if it was not listed."""
    removed = lift_suppression(session, caller.workspace_id, body.address, body.reason)
    if removed == 0:
        raise ProblemError(
            404, [Problem(field="address", reason=f"{body.address} is not on the list")]
        )
    return {"removed": removed}


def _already(reason: str) -> ProblemError:
    return ProblemError(409, [Problem(field="address", reason=reason)])
