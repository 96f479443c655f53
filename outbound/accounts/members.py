"""Workspaces, their users and their keys, in the store.

Used by the API (inside a request's workspace scope) and by ``outbound admin``
and ``outbound dev`` (outside any request), so each takes a session and the
workspace explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from outbound.accounts.keys import NewKey, make_key
from outbound.domain.accounts import Role
from outbound.domain.problems import Problem, ProblemError, conflict
from outbound.store.tables import ApiKey, Membership, User, Workspace


@dataclass(frozen=True)
class IssuedKey:
    """A key row and the key itself (shown once)."""

    row: ApiKey
    secret: str


def add_user(
    session: Session, workspace_id: int, email: str | None, name: str, role: Role
) -> tuple[User, Membership]:
    """Add a person to the workspace; a user known by that email (from another
    workspace) is reused. 409 if they are in this workspace already."""
    user = None
    if email is not None:
        user = session.exec(select(User).where(User.email == email.lower())).first()
    if user is None:
        user = User(email=email.lower() if email else None, name=name)
        session.add(user)
        session.flush()
    assert user.id is not None
    existing = session.exec(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user.id
        )
    ).first()
    if existing is not None:
        raise conflict("email", f"{email} is already a {existing.role} of this workspace")
    membership = Membership(workspace_id=workspace_id, user_id=user.id, role=role.value)
    session.add(membership)
    session.flush()
    return user, membership


def issue_key(session: Session, workspace_id: int, user_id: int, name: str) -> IssuedKey:
    """A new API key of ``user_id`` in the workspace (flushed, not committed)."""
    new: NewKey = make_key()
    row = ApiKey(
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        prefix=new.prefix,
        secret_hash=new.secret_hash,
    )
    session.add(row)
    session.flush()
    return IssuedKey(row=row, secret=new.secret)


def revoke_user_keys(session: Session, workspace_id: int, user_id: int) -> int:
    """Revoke every live key of the user in the workspace; returns how many."""
    keys = session.exec(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.user_id == user_id,
            col(ApiKey.revoked_at).is_(None),
        )
    ).all()
    for key in keys:
        key.revoked_at = datetime.now(UTC)
        session.add(key)
    return len(keys)


def keep_an_admin(session: Session, workspace_id: int, leaving: Membership) -> None:
    """409 if ``leaving`` is the workspace's last admin: someone must manage it."""
    if leaving.role != Role.ADMIN:
        return
    admins = session.exec(
        select(func.count()).where(
            Membership.workspace_id == workspace_id, Membership.role == Role.ADMIN.value
        )
    ).one()
    if admins <= 1:
        raise conflict("role", "this is the workspace's only admin; make someone else admin first")


def add_workspace(
    session: Session, name: str, admin_email: str | None, admin_name: str = ""
) -> tuple[int, int]:
    """A new workspace and its first admin (flushed); returns (workspace id, admin's id)."""
    if session.exec(select(Workspace.id).where(Workspace.name == name)).first() is not None:
        raise ProblemError(
            409, [Problem(field="name", reason=f"a workspace named {name!r} exists already")]
        )
    workspace = Workspace(name=name)
    session.add(workspace)
    session.flush()
    assert workspace.id is not None
    user, _ = add_user(session, workspace.id, admin_email, admin_name, Role.ADMIN)
    assert user.id is not None
    return workspace.id, user.id


def create_workspace(
    engine: Engine, name: str, admin_email: str | None, admin_name: str = ""
) -> tuple[int, str]:
    """A new workspace with its first admin and that admin's key; returns (id, key).

    ``outbound admin create-workspace`` and the dev stack's first start use this.
    """
    with Session(engine) as session:
        workspace_id, user_id = add_workspace(session, name, admin_email, admin_name)
        issued = issue_key(session, workspace_id, user_id, "first admin key")
        session.commit()
        return workspace_id, issued.secret


def admin_key_for(engine: Engine, workspace_name: str, admin_email: str | None) -> str:
    """A new key for an admin of an existing workspace (``outbound admin create-key``)."""
    with Session(engine) as session:
        workspace_id = session.exec(
            select(Workspace.id).where(Workspace.name == workspace_name)
        ).first()
        if workspace_id is None:
            raise ProblemError(
                404, [Problem(field="workspace", reason=f"no workspace named {workspace_name!r}")]
            )
        query = (
            select(Membership)
            .join(User, col(User.id) == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.ADMIN.value)
        )
        if admin_email is not None:
            query = query.where(User.email == admin_email.lower())
        membership = session.exec(query.order_by(col(Membership.id))).first()
        if membership is None:
            raise ProblemError(
                404, [Problem(field="email", reason="no such admin in that workspace")]
            )
        issued = issue_key(session, workspace_id, membership.user_id, "admin key (command line)")
        session.commit()
        return issued.secret
