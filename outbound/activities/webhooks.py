"""Deliver one webhook (idempotent: a delivered row is not sent again), and disable a
subscription whose delivery kept failing.

The signing secret is loaded by subscription id and decrypted here; it is never
in the workflow's input or history.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio import activity
from temporalio.exceptions import ApplicationError

from outbound.domain.webhooks import DeliveryStatus, DisableRequest
from outbound.observability import metrics
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.tables import WebhookDelivery, WebhookEvent, WebhookSubscription, utc_now
from outbound.webhooks.sender import Answer, post, signed_headers
from outbound.webhooks.urls import UrlPolicy, UrlRefused

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    url: str
    secret: str
    event_id: str
    body: str


class WebhookActivities:
    """Webhook deliveries, bound to the process's engine, settings and keyring."""

    def __init__(self, engine: Engine, settings: Settings, keyring: Keyring) -> None:
        self._engine = engine
        self._settings = settings
        self._keyring = keyring
        self._policy = UrlPolicy.from_settings(settings)

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery_id: int) -> str:
        """Send the delivery's event; raises (retried by Temporal) unless the receiver
        answered 2xx. Returns what happened: delivered, already, held or gone."""
        job = await asyncio.to_thread(self._job, delivery_id)
        if isinstance(job, str):
            return job
        try:
            target = await self._policy.target(job.url)
        except UrlRefused as refused:
            answer = Answer(None, f"refused: {refused}")
        except (OSError, TimeoutError) as error:
            answer = Answer(None, f"could not resolve the host ({type(error).__name__})")
        else:
            headers = signed_headers(job.secret, job.event_id, utc_now(), job.body)
            answer = await post(target, headers, job.body, self._settings.webhook_timeout_seconds)
        await asyncio.to_thread(self._record, delivery_id, answer)
        metrics.webhook_deliveries.labels(result="delivered" if answer.ok else "failed").inc()
        if not answer.ok:
            raise ApplicationError(answer.error or "failed", type="WebhookNotDelivered")
        return "delivered"

    def _job(self, delivery_id: int) -> _Job | str:
        with Session(self._engine) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return "gone"
            if delivery.status == DeliveryStatus.DELIVERED.value:
                return "already"
            subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
            if not subscription.enabled:
                # Kept for when it is enabled again (which dispatches it anew).
                delivery.dispatched_at = None
                session.add(delivery)
                session.commit()
                return "held"
            event = session.get_one(WebhookEvent, delivery.event_row_id)
            return _Job(
                subscription.url,
                self._keyring.decrypt(subscription.secret_encrypted),
                event.event_id,
                event.payload,
            )

    def _record(self, delivery_id: int, answer: Answer) -> None:
        values: dict[str, object] = {
            "attempts": col(WebhookDelivery.attempts) + 1,
            "status_code": answer.status_code,
            "error": answer.error,
            "last_attempt_at": utc_now(),
        }
        if answer.ok:
            values |= {"status": DeliveryStatus.DELIVERED.value, "delivered_at": utc_now()}
        with self._engine.begin() as connection:
            connection.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery_id,
                    col(WebhookDelivery.status) != DeliveryStatus.DELIVERED.value,
                )
                .values(**values)
            )

    @activity.defn(name="disable_webhook_subscription")
    async def disable_webhook_subscription(self, request: DisableRequest) -> None:
        """The delivery failed for good: mark it failed, disable and flag the subscription;
        its other events stay pending until it is enabled again."""
        await asyncio.to_thread(self._disable, request)
        metrics.webhook_deliveries.labels(result="gave_up").inc()

    def _disable(self, request: DisableRequest) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == request.delivery_id,
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                )
                .values(status=DeliveryStatus.FAILED.value)
            )
            connection.execute(
                update(WebhookSubscription)
                .where(
                    col(WebhookSubscription.id) == request.subscription_id,
                    col(WebhookSubscription.enabled),
                )
                .values(enabled=False, disabled_reason=request.reason, disabled_at=utc_now())
            )
        _log.warning(
            "webhook subscription %s disabled: %s", request.subscription_id, request.reason
        )
