"""The workspace's people and keys: who am I, users and roles, API keys, the audit log.

Everything but ``GET /me`` is an admin's. Keys are shown once, when made;
afterwards only their prefix (``obk_1a2b3c4d5e6f``) and when they were last
used. A revoked key answers 401 from the next request on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlmodel import Session, col, select

from outbound.accounts.members import add_user, issue_key, keep_an_admin, revoke_user_keys
from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import SessionDep
from outbound.domain.accounts import (
    AuditEntryPublic,
    AuditPage,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    Me,
    Role,
    RoleChange,
    UserCreate,
    UserPublic,
)
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.store.tables import ApiKey, AuditEntry, Membership, User, Workspace

router = APIRouter(tags=["workspace"])

Id = Annotated[int, Path(ge=1)]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/me")
def me(session: SessionDep, caller: CallerDep) -> Me:
    """The workspace, user and role of the key in this request."""
    workspace = session.get_one(Workspace, caller.workspace_id)
    user = session.get_one(User, caller.user_id)
    return Me(
        workspace_id=caller.workspace_id,
        workspace_name=workspace.name,
        user_id=caller.user_id,
        user_email=user.email,
        user_name=user.name,
        role=caller.role,
        key_prefix=caller.key_prefix,
    )


@router.get("/users", dependencies=[ADMIN_ONLY])
def list_users(
    session: SessionDep, offset: Annotated[int, Query(ge=0)] = 0, limit: Limit = 100
) -> list[UserPublic]:
    """The workspace's users and their roles, oldest first."""
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == User.id)
        .order_by(col(User.id))
        .offset(offset)
        .limit(limit)
    )
    return [_user_public(user, membership) for user, membership in rows]


@router.post("/users", status_code=201, dependencies=[ADMIN_ONLY])
def create_user(body: UserCreate, session: SessionDep, caller: CallerDep) -> UserPublic:
    """Add a person to the workspace as an admin or a member (then make them a key)."""
    user, membership = add_user(session, caller.workspace_id, body.email, body.name, body.role)
    session.commit()
    return _user_public(user, membership)


@router.patch("/users/{user_id}", dependencies=[ADMIN_ONLY])
def change_role(
    user_id: Id, body: RoleChange, session: SessionDep, caller: CallerDep
) -> UserPublic:
    """Make a user an admin or a member; the workspace always keeps one admin."""
    user, membership = _member(session, user_id)
    if body.role is not Role.ADMIN:
        keep_an_admin(session, caller.workspace_id, membership)
    membership.role = body.role.value
    session.add(membership)
    session.commit()
    return _user_public(user, membership)


@router.delete("/users/{user_id}", dependencies=[ADMIN_ONLY])
def remove_user(user_id: Id, session: SessionDep, caller: CallerDep) -> UserPublic:
    """Take a user out of the workspace and revoke their keys in it (their campaigns stay)."""
    user, membership = _member(session, user_id)
    keep_an_admin(session, caller.workspace_id, membership)
    revoke_user_keys(session, caller.workspace_id, user_id)
    public = _user_public(user, membership)
    session.delete(membership)
    session.commit()
    return public


@router.get("/keys", dependencies=[ADMIN_ONLY])
def list_keys(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = 100,
) -> list[KeyPublic]:
    """Every key of the workspace (revoked ones too), newest first: prefix, owner, last use."""
    rows = session.exec(select(ApiKey).order_by(col(ApiKey.id).desc()).offset(offset).limit(limit))
    return [_key_public(key) for key in rows]


@router.post("/keys", status_code=201, dependencies=[ADMIN_ONLY])
def create_key(body: KeyCreate, session: SessionDep, caller: CallerDep) -> KeyCreated:
    """Make a key for a user of the workspace. The key is in this answer only: keep it."""
    user_id = body.user_id if body.user_id is not None else caller.user_id
    if session.get(User, user_id) is None:
        raise ProblemError(422, [Problem(field="user_id", reason=f"user {user_id} not found")])
    issued = issue_key(session, caller.workspace_id, user_id, body.name)
    session.commit()
    return KeyCreated(**_key_public(issued.row).model_dump(), key=issued.secret)


@router.post("/keys/{key_id}/revoke", dependencies=[ADMIN_ONLY])
def revoke_key(key_id: Id, session: SessionDep) -> KeyPublic:
    """Revoke a key: requests with it answer 401 from now on (revoking twice is harmless)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise not_found("key", key_id)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        session.add(key)
        session.commit()
    return _key_public(key)


@router.get("/audit", dependencies=[ADMIN_ONLY])
def audit_log(
    session: SessionDep,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
    user_id: Annotated[int | None, Query(ge=1)] = None,
    before: Annotated[int | None, Query(ge=1, description="next_before of the last page")] = None,
    limit: Limit = 100,
) -> AuditPage:
    """Who changed what and when, newest first: every state-changing call, refused ones too."""
    query = select(AuditEntry)
    if object_type is not None:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if before is not None:
        query = query.where(col(AuditEntry.id) < before)
    rows = list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit)))
    return AuditPage(
        items=[AuditEntryPublic.model_validate(row, from_attributes=True) for row in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )


def _member(session: Session, user_id: int) -> tuple[User, Membership]:
    row = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(User.id == user_id)
    ).first()
    if row is None:
        raise not_found("user", user_id)
    return row[0], row[1]


def _user_public(user: User, membership: Membership) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        email=user.email,
        name=user.name,
        role=Role(membership.role),
        created_at=user.created_at,
    )


def _key_public(key: ApiKey) -> KeyPublic:
    assert key.id is not None
    return KeyPublic(
        id=key.id,
        prefix=key.prefix,
        name=key.name,
        user_id=key.user_id,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
