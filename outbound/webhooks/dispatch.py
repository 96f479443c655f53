"""Hand stored deliveries to their delivery workflows, after the emitting transaction.

One workflow per (subscription, ordering key) — a prospect's events share a
key, so they reach each URL in order — started or signalled with
signal-with-start (``webhook-{subscription}-{key}``, a fixed id: two
dispatchers racing end in one workflow, which ignores ids it already has).
Every dispatch claims every undispatched delivery, so one left behind by a
process that died between its commit and its dispatch goes with the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client

from outbound.domain.webhooks import WebhookDeliveryInput
from outbound.settings import Settings
from outbound.store.webhooks import claim_undispatched, unclaim

WORKFLOW_NAME = "WebhookDelivery"
SWEEP_EVERY = timedelta(minutes=1)
_log = logging.getLogger(__name__)


def delivery_workflow_id(subscription_id: int, ordering_key: str) -> str:
    return f"webhook-{subscription_id}-{ordering_key}"


@dataclass(frozen=True)
class Dispatcher:
    """Starts deliveries; made from the process's settings."""

    settings: Settings

    async def dispatch(self, engine: Engine, client: Client) -> int:
        """Start (or signal) the workflows of every undispatched delivery; how many."""
        claimed = await asyncio.to_thread(claim_undispatched, engine)
        groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in claimed:
            groups[(row.subscription_id, row.ordering_key)].append(row.delivery_id)
        for (subscription_id, key), ids in groups.items():
            try:
                await client.start_workflow(
                    WORKFLOW_NAME,
                    self.input(subscription_id, key),
                    id=delivery_workflow_id(subscription_id, key),
                    task_queue=self.settings.task_queue,
                    start_signal="deliver",
                    start_signal_args=[ids],
                )
            except Exception:  # the rows go with the next dispatch
                _log.exception("webhook deliveries %s not dispatched", ids)
                await asyncio.to_thread(unclaim, engine, ids)
        return len(claimed)

    async def sweep(self, engine: Engine, client: Client) -> None:
        """Dispatch every :data:`SWEEP_EVERY`, for ever: events stored by a process that
        died before dispatching them, and deliveries handed to a workflow that never
        started, go out within minutes without waiting for another event."""
        while True:
            await asyncio.sleep(SWEEP_EVERY.total_seconds())
            try:
                await self.dispatch(engine, client)
            except Exception:  # the next sweep tries again
                _log.exception("webhook sweep failed")

    def input(self, subscription_id: int, ordering_key: str) -> WebhookDeliveryInput:
        settings = self.settings
        return WebhookDeliveryInput(
            subscription_id=subscription_id,
            ordering_key=ordering_key,
            timeout_seconds=settings.webhook_timeout_seconds,
            retry_initial_seconds=settings.webhook_retry_initial_seconds,
            retry_max_interval_seconds=settings.webhook_retry_max_interval_seconds,
            give_up_seconds=settings.webhook_give_up_hours * 3600,
        )
