"""One subscription's deliveries under time skipping, with the activities replaced.

What a subscriber relies on: a prospect's events arrive in order, one at a time;
a receiver that is down is retried with growing gaps for three days, then the
subscription is disabled and flagged, and the events behind the failing one are
kept (never attempted, never dropped).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from itertools import pairwise

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain.webhooks import DisableRequest, WebhookDeliveryInput
from outbound.workflows.webhook_delivery import WebhookDeliveryWorkflow

THREE_DAYS = timedelta(days=3)


class Receiver:
    """The activities: a receiver that answers 2xx only when ``up``."""

    def __init__(self, env: WorkflowEnvironment, up: bool) -> None:
        self.env = env
        self.up = up
        self.attempts: list[tuple[int, datetime]] = []
        self.delivered: list[int] = []
        self.disabled: list[DisableRequest] = []

    @activity.defn(name="deliver_webhook")
    async def deliver(self, delivery_id: int) -> str:
        self.attempts.append((delivery_id, await self.env.get_current_time()))
        if not self.up:
            raise ApplicationError("HTTP 500", type="WebhookNotDelivered")
        self.delivered.append(delivery_id)
        return "delivered"

    @activity.defn(name="disable_webhook_subscription")
    async def disable(self, request: DisableRequest) -> None:
        self.disabled.append(request)


def start(*delivery_ids: int) -> WebhookDeliveryInput:
    return WebhookDeliveryInput(
        subscription_id=7,
        ordering_key="prospect-1",
        delivery_ids=list(delivery_ids),
        timeout_seconds=10,
        retry_initial_seconds=30,
        retry_max_interval_seconds=3600,
        give_up_seconds=THREE_DAYS.total_seconds(),
    )


async def run(env: WorkflowEnvironment, receiver: Receiver, first: WebhookDeliveryInput,
              more: list[int]) -> None:  # fmt: skip
    queue = f"webhooks-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WebhookDeliveryWorkflow],
        activities=[receiver.deliver, receiver.disable],
    ):
        handle = await env.client.start_workflow(
            WebhookDeliveryWorkflow.run, first, id=f"webhook-{uuid.uuid4()}", task_queue=queue
        )
        if more:
            await handle.signal(WebhookDeliveryWorkflow.deliver, more)
        await handle.result()


async def test_events_go_in_order_once_each(time_skipping: WorkflowEnvironment) -> None:
    receiver = Receiver(time_skipping, up=True)

    await run(time_skipping, receiver, start(3, 1), [2, 3, 4])

    assert receiver.delivered == [1, 2, 3, 4]
    assert receiver.disabled == []


async def test_a_receiver_down_for_three_days_disables_the_subscription_and_keeps_the_rest(
    time_skipping: WorkflowEnvironment,
) -> None:
    receiver = Receiver(time_skipping, up=False)
    began = await time_skipping.get_current_time()

    await run(time_skipping, receiver, start(1, 2, 3), [])

    assert {delivery for delivery, _ in receiver.attempts} == {1}  # 2 and 3 kept, untried
    times = [at for _, at in receiver.attempts]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert gaps[0] < timedelta(minutes=1) and max(gaps) <= timedelta(hours=1, seconds=5)
    assert all(a <= b + timedelta(seconds=1) for a, b in pairwise(gaps))  # growing gaps
    assert THREE_DAYS - timedelta(hours=1) <= times[-1] - began <= THREE_DAYS
    [disabled] = receiver.disabled
    assert (disabled.subscription_id, disabled.delivery_id) == (7, 1)
    assert "HTTP 500" in disabled.reason
