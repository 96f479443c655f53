"""Whose turn it is under "one prospect per company at a time" (a short database read)."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity

from outbound.domain.company_rules import CompanyTurnRequest
from outbound.store.colleagues import company_turn


class ColleagueActivities:
    """The company-turn question a sequence asks before its first step."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="company_turn")
    async def company_turn(self, request: CompanyTurnRequest) -> bool:
        """True when no unfinished colleague in the campaign was enrolled before this one."""
        return await asyncio.to_thread(self._turn, request.enrollment_id)

    def _turn(self, enrollment_id: int) -> bool:
        with self._engine.connect() as connection:
            return company_turn(connection, enrollment_id)
