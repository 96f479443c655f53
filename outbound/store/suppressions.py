"""The suppression list: addresses an owner's campaigns must never send to.

Only hard bounces (and, later, opt-outs and manual entries) land here; a soft
bounce such as a full mailbox does not. Addresses are compared lower-cased.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from outbound.store.tables import Suppression


def find_suppression(session: Session, owner: str, address: str) -> Suppression | None:
    """The entry that forbids sending to ``address`` for ``owner``, if any."""
    return session.exec(
        select(Suppression).where(
            Suppression.owner == owner, Suppression.address == address.lower()
        )
    ).first()


def suppressed_among(session: Session, owner: str, addresses: list[str]) -> set[str]:
    """Which of ``addresses`` (lower-cased) are suppressed for ``owner``."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    return set(
        session.exec(
            select(Suppression.address).where(
                Suppression.owner == owner, col(Suppression.address).in_(wanted)
            )
        )
    )


def suppress(session: Session, owner: str, address: str, source: str, detail: str) -> None:
    """Add ``address`` to ``owner``'s list (idempotent; the first reason stays) and commit."""
    if find_suppression(session, owner, address) is not None:
        return
    session.add(Suppression(owner=owner, address=address.lower(), source=source, detail=detail))
    try:
        session.commit()
    except IntegrityError:  # another worker added it at the same moment
        session.rollback()


def stage_suppression(session: Session, owner: str, address: str, source: str, detail: str) -> None:
    """Like ``suppress`` but part of the caller's transaction (committed with it)."""
    if find_suppression(session, owner, address) is None:
        session.add(Suppression(owner=owner, address=address.lower(), source=source, detail=detail))
