"""The address check before a sequence's first send to an address (PRODUCT.md rule 1).

An address is refused when the workspace's suppression list has it or when it
cannot receive mail (bad syntax, a domain without mail servers). DNS that
does not answer is "unverified", which is not a refusal; role and disposable
addresses are flagged in the note but still used.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from outbound.domain.sequence import AddressCheckRequest, AddressVerdict
from outbound.mail.address_check import AddressCheck, AddressChecker, Verdict
from outbound.store.suppressions import find_suppression
from outbound.store.tables import Enrollment


class AddressActivities:
    """Address checks, given the engine and a checker (its DNS cache lives per worker)."""

    def __init__(self, engine: Engine, checker: AddressChecker) -> None:
        self._engine = engine
        self._checker = checker

    @activity.defn(name="check_address")
    async def check_address(self, request: AddressCheckRequest) -> AddressVerdict:
        """May this enrollment send to ``request.address``, and what should users know?"""
        suppressed = await asyncio.to_thread(self.suppression_note, request)
        if suppressed is not None:
            return AddressVerdict(address=request.address, usable=False, note=suppressed)
        check = await self._checker.check(request.address)
        return AddressVerdict(
            address=request.address,
            usable=check.verdict is not Verdict.INVALID,
            note=describe(check),
        )

    def suppression_note(self, request: AddressCheckRequest) -> str | None:
        """Why the workspace's suppression list forbids the address, or None."""
        with Session(self._engine) as session:
            workspace_id = session.exec(
                select(Enrollment.workspace_id).where(Enrollment.id == request.enrollment_id)
            ).one()
            entry = find_suppression(session, workspace_id, request.address)
            return None if entry is None else f"suppressed ({entry.source}): {entry.detail}"


def describe(check: AddressCheck) -> str:
    """One line for the prospect's view: the verdict, its reason, and any flags."""
    flags = [
        name for name, on in (("role address", check.role), ("disposable", check.disposable)) if on
    ]
    text = check.verdict.value
    if check.verdict is not Verdict.VALID and check.reason:
        text += f": {check.reason}"
    return ", ".join([text, *flags])[:300]
