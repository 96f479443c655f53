"""One subscription's deliveries of one ordering key (a prospect, a campaign, a mailbox),
one after the other, so a receiver sees a prospect's events in order.

Each delivery is an activity retried with exponential backoff until it
succeeds or ``give_up_seconds`` (3 days) pass; then the subscription is
disabled and flagged, and the deliveries still queued here stay pending in the
store (re-enabling dispatches them again). Started and fed by signal-with-start
(``outbound.webhooks.dispatch``); it ends after a quiet minute, and continues
as new after many deliveries. Only ids go through history, never a secret.
"""

from __future__ import annotations

import contextlib
from bisect import insort
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from outbound.domain.webhooks import DisableRequest, WebhookDeliveryInput

IDLE = timedelta(minutes=1)
PER_RUN = 200


@workflow.defn(name="WebhookDelivery")
class WebhookDeliveryWorkflow:
    @workflow.init
    def __init__(self, start: WebhookDeliveryInput) -> None:
        self._queue: list[int] = sorted(set(start.delivery_ids))

    @workflow.signal
    def deliver(self, delivery_ids: list[int]) -> None:
        """More deliveries (ids already queued are ignored; one already delivered is sent
        again only if a redeliver made it pending: the activity checks)."""
        for delivery_id in delivery_ids:
            if delivery_id not in self._queue:
                insort(self._queue, delivery_id)

    @workflow.run
    async def run(self, start: WebhookDeliveryInput) -> None:
        done = 0
        while True:
            if not self._queue:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: bool(self._queue), timeout=IDLE)
                if not self._queue:
                    return
            if done >= PER_RUN:
                workflow.continue_as_new(start.model_copy(update={"delivery_ids": self._queue}))
            delivery_id = self._queue[0]
            try:
                await workflow.execute_activity(
                    "deliver_webhook",
                    delivery_id,
                    result_type=str,
                    start_to_close_timeout=timedelta(seconds=start.timeout_seconds + 30),
                    schedule_to_close_timeout=timedelta(seconds=start.give_up_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=start.retry_initial_seconds),
                        backoff_coefficient=2.0,
                        maximum_interval=timedelta(seconds=start.retry_max_interval_seconds),
                    ),
                )
            except ActivityError as failure:
                cause = str(failure.cause or failure)
                await workflow.execute_activity(
                    "disable_webhook_subscription",
                    DisableRequest(
                        subscription_id=start.subscription_id,
                        delivery_id=delivery_id,
                        reason=f"deliveries kept failing; the last: {cause}"[:500],
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                )
                return
            self._queue.pop(0)
            done += 1
