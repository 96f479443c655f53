"""Sharing a mailbox with members ("send as the hiring manager").

An admin lets named members send through a mailbox; their campaigns then
share its daily limit and gap with every other campaign on it, and replies to
it still reach the right sequence (matched by thread, then sender), which the
campaign's owner sees. Taking the grant away stops new campaigns from using
the mailbox; campaigns already running on it go on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import col, select

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep
from outbound.domain.accounts import GrantCreate, GrantPublic
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.store.tables import Mailbox, MailboxGrant, User

router = APIRouter(prefix="/mailboxes/{mailbox_id}/grants", tags=["mailboxes"])

Id = Annotated[int, Path(ge=1)]


@router.get("", dependencies=[ADMIN_ONLY])
def list_grants(mailbox_id: Id, session: SessionDep) -> list[GrantPublic]:
    """The members who may send through the mailbox."""
    if session.get(Mailbox, mailbox_id) is None:
        raise not_found("mailbox", mailbox_id)
    rows = session.exec(
        select(MailboxGrant)
        .where(MailboxGrant.mailbox_id == mailbox_id)
        .order_by(col(MailboxGrant.id))
    )
    return [_public(grant) for grant in rows]


@router.post("", status_code=201, dependencies=[ADMIN_ONLY])
def grant(mailbox_id: Id, body: GrantCreate, session: SessionDep, caller: CallerDep) -> GrantPublic:
    """Let a user of the workspace send through the mailbox (409 if they may already)."""
    if session.get(Mailbox, mailbox_id) is None:
        raise not_found("mailbox", mailbox_id)
    if session.get(User, body.user_id) is None:
        raise ProblemError(422, [Problem(field="user_id", reason=f"user {body.user_id} not found")])
    existing = session.exec(
        select(MailboxGrant).where(
            MailboxGrant.mailbox_id == mailbox_id, MailboxGrant.user_id == body.user_id
        )
    ).first()
    if existing is not None:
        raise conflict("user_id", f"user {body.user_id} may already send through this mailbox")
    row = MailboxGrant(
        workspace_id=caller.workspace_id, mailbox_id=mailbox_id, user_id=body.user_id
    )
    session.add(row)
    session.commit()
    return _public(row)


@router.delete("/{user_id}", dependencies=[ADMIN_ONLY])
def revoke(mailbox_id: Id, user_id: Id, session: SessionDep) -> GrantPublic:
    """Take the right away; campaigns already running on the mailbox go on."""
    row = session.exec(
        select(MailboxGrant).where(
            MailboxGrant.mailbox_id == mailbox_id, MailboxGrant.user_id == user_id
        )
    ).first()
    if row is None:
        raise not_found("grant", f"of user {user_id} on mailbox {mailbox_id}")
    public = _public(row)
    session.delete(row)
    session.commit()
    return public


def _public(row: MailboxGrant) -> GrantPublic:
    return GrantPublic(mailbox_id=row.mailbox_id, user_id=row.user_id, granted_at=row.granted_at)
