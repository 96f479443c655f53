"""The suppression list: addresses (and SMS numbers) a workspace's campaigns must never
send to.

Hard bounces, opt-outs and manual entries land here; a soft bounce such as a
full mailbox does not. An address is looked up by its lower-cased spelling and
by its normalised one (Gmail dots and +tags), so ``Ann.Lee+jobs@gmail.com``
opting out also covers ``annlee@gmail.com``. A removed entry stays as a row
with who-knows-why (``removed_reason``); adding the address again revives it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from outbound.domain.addresses import GMAIL_DOMAINS, normalise
from outbound.store.chunks import chunked
from outbound.store.tables import Suppression


def spellings(address: str) -> set[str]:
    """The keys an address is listed and looked up under (a phone number, E.164: itself)."""
    if "@" not in address:
        return {address.strip()}
    return {address.strip().lower(), normalise(address)}


def find_suppression(session: Session, workspace_id: int, address: str) -> Suppression | None:
    """The entry that forbids sending to ``address`` for the workspace, if any."""
    return session.exec(
        select(Suppression)
        .where(
            Suppression.workspace_id == workspace_id,
            col(Suppression.address).in_(spellings(address)),
            col(Suppression.removed_at).is_(None),
        )
        .order_by(col(Suppression.id))
    ).first()


def suppressed_among(session: Session, workspace_id: int, addresses: list[str]) -> set[str]:
    """Which of ``addresses`` (lower-cased) are suppressed for the workspace."""
    keys = {a: spellings(a) for a in {a.strip().lower() for a in addresses}}
    if not keys:
        return set()
    forms = sorted(set().union(*keys.values()))
    listed: set[str] = set()
    for part in chunked(forms):  # a 10,000-row import asks for 20,000 spellings or more
        listed.update(
            session.exec(
                select(Suppression.address).where(
                    Suppression.workspace_id == workspace_id,
                    col(Suppression.address).in_(part),
                    col(Suppression.removed_at).is_(None),
                )
            )
        )
    return {address for address, forms in keys.items() if forms & listed}


def suppress(session: Session, workspace_id: int, address: str, source: str, detail: str) -> None:
    """Add ``address`` to the workspace's list (idempotent; the first reason stays) and commit."""
    stage_suppression(session, workspace_id, address, source, detail)
    try:
        session.commit()
    except IntegrityError:  # another worker added it at the same moment
        session.rollback()


def stage_suppression(
    session: Session, workspace_id: int, address: str, source: str, detail: str
) -> bool:
    """Like ``suppress`` but part of the caller's transaction (committed with it).

    True if the address was not suppressed before.
    """
    if find_suppression(session, workspace_id, address) is not None:
        return False
    for key in sorted(spellings(address)):
        row = session.exec(
            select(Suppression).where(
                Suppression.workspace_id == workspace_id, Suppression.address == key
            )
        ).first()
        if row is None:
            row = Suppression(workspace_id=workspace_id, address=key, source=source, detail=detail)
        else:  # taken off the list once, listed again now
            row.source, row.detail, row.created_at = source, detail, datetime.now(UTC)
            row.removed_at, row.removed_reason = None, None
        session.add(row)
    session.flush()
    return True


def lift_suppression(session: Session, workspace_id: int, address: str, reason: str) -> int:
    """Take ``address`` (every spelling; a phone number: itself) off the workspace's list;
    returns how many rows changed."""
    if "@" not in address:  # a phone number (E.164) is listed under itself only
        rows = list(
            session.exec(
                select(Suppression).where(
                    Suppression.workspace_id == workspace_id,
                    col(Suppression.address).in_(spellings(address)),
                    col(Suppression.removed_at).is_(None),
                )
            )
        )
    else:
        wanted = normalise(address)
        domain = wanted.rpartition("@")[2]
        domains = GMAIL_DOMAINS if domain == "gmail.com" else {domain}
        candidates = session.exec(
            select(Suppression).where(
                Suppression.workspace_id == workspace_id,
                or_(*(col(Suppression.address).like(f"%@{d}") for d in domains)),
                col(Suppression.removed_at).is_(None),
            )
        ).all()
        rows = [row for row in candidates if normalise(row.address) == wanted]
    for row in rows:
        row.removed_at, row.removed_reason = datetime.now(UTC), reason
        session.add(row)
    session.commit()
    return len(rows)
