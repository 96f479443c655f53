"""SMS senders: create, list, show, change, delete. The auth token is write-only.

Setting senders up is an admin's job; a member sees (and sends through) the
senders shared with them (``routes/sms_sender_grants.py``). A sender's limits
are shared by every campaign that uses it, like a mailbox's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlmodel import Session, col, select

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import KeyringDep, SessionDep
from outbound.domain.problems import conflict, not_found
from outbound.domain.sms_senders import SmsSenderCreate, SmsSenderUpdate, SmsSenderView
from outbound.store.sms_senders import (
    create_sms_sender,
    delete_sms_sender,
    sms_sender_in_use,
    sms_sender_view,
    update_sms_sender,
)
from outbound.store.tables import SmsSender, SmsSenderGrant

router = APIRouter(prefix="/sms-senders", tags=["sms senders"])

Id = Annotated[int, Path(ge=1)]


@router.post("", status_code=201, dependencies=[ADMIN_ONLY])
def create_sender(
    body: SmsSenderCreate, session: SessionDep, keyring: KeyringDep, caller: CallerDep
) -> SmsSenderView:
    """Add a number (or messaging service) that SMS steps send from (admins)."""
    return sms_sender_view(create_sms_sender(session, caller.workspace_id, body, keyring))


@router.get("")
def list_senders(
    session: SessionDep,
    caller: CallerDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SmsSenderView]:
    """The workspace's SMS senders (a member: those shared with them), oldest first."""
    query = select(SmsSender)
    if not caller.is_admin:
        query = query.where(
            col(SmsSender.id).in_(
                select(SmsSenderGrant.sender_id).where(SmsSenderGrant.user_id == caller.user_id)
            )
        )
    rows = session.exec(query.order_by(col(SmsSender.id)).offset(offset).limit(limit))
    return [sms_sender_view(sender) for sender in rows]


@router.get("/{sms_sender_id}")
def get_sender(sms_sender_id: Id, session: SessionDep) -> SmsSenderView:
    """One SMS sender."""
    return sms_sender_view(_found(session, sms_sender_id))


@router.patch("/{sms_sender_id}", dependencies=[ADMIN_ONLY])
def change_sender(
    sms_sender_id: Id, body: SmsSenderUpdate, session: SessionDep, keyring: KeyringDep
) -> SmsSenderView:
    """Change the fields given (admins); a new token or account clears a parked state."""
    sender = _found(session, sms_sender_id)
    return sms_sender_view(update_sms_sender(session, sender, body, keyring))


@router.delete("/{sms_sender_id}", dependencies=[ADMIN_ONLY])
def delete_sender(sms_sender_id: Id, session: SessionDep) -> SmsSenderView:
    """Delete a sender no campaign uses and nothing is queued on (409 otherwise); its sent
    messages stay logged."""
    sender = _found(session, sms_sender_id)
    refusal = sms_sender_in_use(session, sms_sender_id)
    if refusal is not None:
        raise conflict("sms_sender_id", refusal)
    view = sms_sender_view(sender)
    delete_sms_sender(session, sender)
    return view


def _found(session: Session, sender_id: int) -> SmsSender:
    sender = session.get(SmsSender, sender_id)
    if sender is None:
        raise not_found("sms_sender", sender_id)
    return sender
