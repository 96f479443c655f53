"""Sharing an SMS sender with members, as mailboxes are shared.

An admin lets named members send through a sender; their campaigns then share
its daily limit and rate with every other campaign on it. Taking the grant
away stops new campaigns from using the sender; campaigns already running on
it go on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session, col, select

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep
from outbound.domain.accounts import GrantCreate
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.sms_senders import SmsGrantView
from outbound.store.tables import SmsSender, SmsSenderGrant, User

router = APIRouter(prefix="/sms-senders/{sms_sender_id}/grants", tags=["sms senders"])

Id = Annotated[int, Path(ge=1)]


@router.get("", dependencies=[ADMIN_ONLY])
def list_grants(sms_sender_id: Id, session: SessionDep) -> list[SmsGrantView]:
    """The members who may send through the sender."""
    _exists(session, sms_sender_id)
    rows = session.exec(
        select(SmsSenderGrant)
        .where(SmsSenderGrant.sender_id == sms_sender_id)
        .order_by(col(SmsSenderGrant.id))
    )
    return [_view(grant) for grant in rows]


@router.post("", status_code=201, dependencies=[ADMIN_ONLY])
def grant(
    sms_sender_id: Id, body: GrantCreate, session: SessionDep, caller: CallerDep
) -> SmsGrantView:
    """Let a user of the workspace send through the sender (409 if they may already)."""
    _exists(session, sms_sender_id)
    if session.get(User, body.user_id) is None:
        raise ProblemError(422, [Problem(field="user_id", reason=f"user {body.user_id} not found")])
    if _grant_of(session, sms_sender_id, body.user_id) is not None:
        raise conflict("user_id", f"user {body.user_id} may already send through this sender")
    row = SmsSenderGrant(
        workspace_id=caller.workspace_id, sender_id=sms_sender_id, user_id=body.user_id
    )
    session.add(row)
    session.commit()
    return _view(row)


@router.delete("/{user_id}", dependencies=[ADMIN_ONLY])
def revoke(sms_sender_id: Id, user_id: Id, session: SessionDep) -> SmsGrantView:
    """Take the right away; campaigns already running on the sender go on."""
    row = _grant_of(session, sms_sender_id, user_id)
    if row is None:
        raise not_found("grant", f"of user {user_id} on sms sender {sms_sender_id}")
    view = _view(row)
    session.delete(row)
    session.commit()
    return view


def _exists(session: Session, sender_id: int) -> None:
    if session.get(SmsSender, sender_id) is None:
        raise not_found("sms_sender", sender_id)


def _grant_of(session: Session, sender_id: int, user_id: int) -> SmsSenderGrant | None:
    return session.exec(
        select(SmsSenderGrant).where(
            SmsSenderGrant.sender_id == sender_id, SmsSenderGrant.user_id == user_id
        )
    ).first()


def _view(row: SmsSenderGrant) -> SmsGrantView:
    return SmsGrantView(sender_id=row.sender_id, user_id=row.user_id, granted_at=row.granted_at)
