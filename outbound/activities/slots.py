"""Slot reservation activities (the logic lives in ``outbound.store.slots``)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import Engine
from temporalio import activity

from outbound.domain.sequence import ReleaseSlotRequest, ReserveSlotRequest
from outbound.observability import metrics
from outbound.settings import Settings, get_settings
from outbound.store import mailbox_slots, slots
from outbound.store.sending_rules import default_caps


class SlotActivities:
    """Reserve and release mailbox send slots."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self._engine = engine
        self._default_caps = default_caps(settings or get_settings())

    @activity.defn(name="reserve_slot")
    async def reserve_slot(self, request: ReserveSlotRequest) -> datetime:
        """The slot for one send (the same one again for a retried request)."""
        slot = await asyncio.to_thread(
            mailbox_slots.reserve_slot, self._engine, request, self._default_caps
        )
        metrics.slots_reserved.labels(channel="email").inc()
        return slot

    @activity.defn(name="release_slot")
    async def release_slot(self, request: ReleaseSlotRequest) -> None:
        """Give a slot back so another message can use it."""
        await asyncio.to_thread(slots.release_slot, self._engine, request)
