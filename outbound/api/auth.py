"""Who is calling, and what they may touch: the one dependency every management route has.

``authorize`` runs before each management route (the app adds it to every
router): it reads ``Authorization: Bearer <api key>``, finds the key by its
prefix, checks its hash, and scopes the request to the key's workspace
(``outbound.store.scope``), after which no query of the request can see another
workspace's rows. Then the role: a route marked ``ADMIN_ONLY`` answers 403 to a
member, and a member asking for a campaign that is not theirs, or a mailbox or
SMS sender not shared with them, by a path id gets 404, exactly as for an id
that does not exist.

No key, a malformed one, an unknown one or a revoked one: 401.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute
from sqlalchemy import ColumnElement, Engine, and_
from sqlmodel import Session, col, select

from outbound.accounts.keys import KeyVerifier, prefix_of
from outbound.domain.accounts import Role
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.store.scope import current_scope, unscoped
from outbound.store.tables import (
    ApiKey,
    Campaign,
    Mailbox,
    MailboxGrant,
    Membership,
    SmsSender,
    SmsSenderGrant,
)

# Writing last_used_at on every request would make every read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request."""

    workspace_id: int
    user_id: int
    role: Role
    key_id: int
    key_prefix: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _unauthorised(reason: str) -> ProblemError:
    return ProblemError(
        401, [Problem(field="authorization", reason=reason)], headers={"WWW-Authenticate": "Bearer"}
    )


def _find_key(engine: Engine, prefix: str) -> tuple[ApiKey, Membership] | None:
    with Session(engine) as session:
        row = session.exec(
            unscoped(
                select(ApiKey, Membership).join(
                    Membership,
                    and_(
                        col(Membership.workspace_id) == ApiKey.workspace_id,
                        col(Membership.user_id) == ApiKey.user_id,
                    ),
                )
            ).where(ApiKey.prefix == prefix)
        ).first()
        return None if row is None else (row[0], row[1])


def _touch(engine: Engine, key_id: int, now: datetime) -> None:
    with Session(engine) as session:
        key = session.exec(unscoped(select(ApiKey).where(ApiKey.id == key_id))).one()
        key.last_used_at = now
        session.add(key)
        session.commit()


async def authenticate(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="Bearer <API key>", include_in_schema=False)
    ] = None,
) -> Caller:
    """The caller of this request; 401 unless the key is valid and live."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise _unauthorised("send your API key as 'Authorization: Bearer <key>'")
    prefix = prefix_of(presented)
    engine: Engine = request.app.state.engine
    found = await asyncio.to_thread(_find_key, engine, prefix) if prefix else None
    verifier: KeyVerifier = request.app.state.key_verifier
    if found is None:
        raise _unauthorised("unknown API key")
    key, membership = found
    assert key.id is not None
    if key.revoked_at is not None:
        raise _unauthorised(f"API key {key.prefix} has been revoked")
    if not await asyncio.to_thread(verifier.verify, key.id, key.secret_hash, presented):
        raise _unauthorised("unknown API key")
    scope = current_scope()
    assert scope is not None, "the management app's middleware opens a scope per request"
    scope.workspace_id = key.workspace_id
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await asyncio.to_thread(_touch, engine, key.id, now)
    caller = Caller(key.workspace_id, key.user_id, Role(membership.role), key.id, key.prefix)
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]


def require_admin(caller: CallerDep) -> Caller:
    """403 for members: users, keys, mailboxes and the audit log are the admins'."""
    if not caller.is_admin:
        raise ProblemError(
            403, [Problem(field="authorization", reason="only a workspace admin may do this")]
        )
    return caller


ADMIN_ONLY = Depends(require_admin)
"""Put in a route's ``dependencies`` to make it an admin's route."""

AdminDep = Annotated[Caller, Depends(require_admin)]


def campaign_visible(session: Session, caller: Caller, campaign_id: int) -> Campaign:
    """The campaign if the caller may see it (admins: any of the workspace; members: their
    own); 404 otherwise, the same answer as for a campaign that does not exist."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not (caller.is_admin or campaign.owner_user_id == caller.user_id):
        raise not_found("campaign", campaign_id)
    return campaign


def mailbox_allowed(session: Session, caller: Caller, mailbox_id: int) -> bool:
    """Whether the caller may send through the mailbox: admins any of the workspace,
    members those shared with them."""
    if session.get(Mailbox, mailbox_id) is None:
        return False
    return caller.is_admin or _granted(
        session, col(MailboxGrant.mailbox_id) == mailbox_id, MailboxGrant.user_id, caller
    )


def usable_mailbox(
    session: Session, caller: Caller, mailbox_id: int, field: str = "mailbox_id"
) -> None:
    """422 naming ``field`` unless the caller may send through that mailbox (an id in a
    request body: one of another workspace or not shared reads as not found)."""
    if not mailbox_allowed(session, caller, mailbox_id):
        raise ProblemError(422, [Problem(field=field, reason=f"mailbox {mailbox_id} not found")])


def sms_sender_allowed(session: Session, caller: Caller, sender_id: int) -> bool:
    """Whether the caller may send through the SMS sender: admins any of the workspace,
    members those shared with them."""
    if session.get(SmsSender, sender_id) is None:
        return False
    return caller.is_admin or _granted(
        session, col(SmsSenderGrant.sender_id) == sender_id, SmsSenderGrant.user_id, caller
    )


def _granted(session: Session, shared: ColumnElement[bool], grantee: int, caller: Caller) -> bool:
    """Whether a grant row matching ``shared`` names the caller (a mailbox or sender grant)."""
    return (
        session.exec(select(grantee).where(shared, grantee == caller.user_id)).first() is not None
    )


def usable_sms_sender(session: Session, caller: Caller, sender_id: int) -> None:
    """422 naming ``sms_sender_id`` unless the caller may send through that sender (an id
    in a request body: one of another workspace or not shared reads as not found)."""
    if not sms_sender_allowed(session, caller, sender_id):
        raise ProblemError(
            422, [Problem(field="sms_sender_id", reason=f"sms sender {sender_id} not found")]
        )


async def authorize(request: Request, caller: CallerDep) -> Caller:
    """Every management route's guard: authenticated, the route's role, path ids visible."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and any(
        d.dependency is require_admin for d in route.dependencies
    ):
        require_admin(caller)
    if caller.is_admin:
        return caller
    params = request.path_params

    def check() -> None:
        with Session(request.app.state.engine) as session:
            if "campaign_id" in params:
                campaign_visible(session, caller, _as_id(params["campaign_id"]))
            if "mailbox_id" in params and not mailbox_allowed(
                session, caller, _as_id(params["mailbox_id"])
            ):
                raise not_found("mailbox", params["mailbox_id"])
            if "sms_sender_id" in params and not sms_sender_allowed(
                session, caller, _as_id(params["sms_sender_id"])
            ):
                raise not_found("sms_sender", params["sms_sender_id"])

    await asyncio.to_thread(check)
    return caller


def _as_id(value: object) -> int:
    """A path id as FastAPI will validate it; a malformed one is left to that validation."""
    try:
        return int(str(value))
    except ValueError:
        return -1
