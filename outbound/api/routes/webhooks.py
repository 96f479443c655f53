"""Outgoing webhooks (docs/webhooks.md): subscribe URLs to events, read the delivery log,
redeliver. Admins only: a subscription sends the workspace's data elsewhere.

The signing secret is in the create answer only. A URL whose host resolves to
a loopback, private or link-local address is refused here (422 naming
``url``) and again at every delivery.
"""

from __future__ import annotations

import base64
import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import func, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import KeyringDep, SessionDep, SettingsDep, TemporalDep
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.webhooks import (
    DeliveryStatus,
    DeliveryView,
    WebhookCreate,
    WebhookCreated,
    WebhookUpdate,
    WebhookView,
)
from outbound.settings import Settings
from outbound.store.tables import WebhookDelivery, WebhookEvent, WebhookSubscription
from outbound.webhooks.dispatch import Dispatcher
from outbound.webhooks.urls import UrlPolicy, UrlRefused

router = APIRouter(prefix="/webhooks", tags=["webhooks"], dependencies=[ADMIN_ONLY])

Id = Annotated[int, Path(ge=1)]


@router.post("", status_code=201)
async def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    keyring: KeyringDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> WebhookCreated:
    """Subscribe a URL to events; the answer shows the signing secret, this once."""
    count = session.exec(select(func.count()).select_from(WebhookSubscription)).one()
    if count >= settings.webhook_max_subscriptions:
        raise conflict(
            "url", f"a workspace has at most {settings.webhook_max_subscriptions} webhooks"
        )
    await _check_url(body.url, settings)
    secret = "whsec_" + _b64(secrets.token_bytes(24))
    subscription = WebhookSubscription(
        workspace_id=caller.workspace_id,
        url=body.url,
        description=body.description,
        events=[event.value for event in body.events],
        secret_encrypted=keyring.encrypt(secret),
    )
    session.add(subscription)
    session.commit()
    session.refresh(subscription)
    return WebhookCreated(**_view(subscription).model_dump(), secret=secret)


@router.get("")
def list_webhooks(session: SessionDep) -> list[WebhookView]:
    """The workspace's subscriptions, oldest first (a disabled one says why)."""
    rows = session.exec(select(WebhookSubscription).order_by(col(WebhookSubscription.id)))
    return [_view(row) for row in rows]


@router.get("/{webhook_id}")
def get_webhook(webhook_id: Id, session: SessionDep) -> WebhookView:
    """One subscription."""
    return _view(_found(session, webhook_id))


@router.patch("/{webhook_id}")
async def change_webhook(
    webhook_id: Id,
    body: WebhookUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> WebhookView:
    """Change the fields given; ``enabled: true`` re-enables a disabled subscription and
    sends the events kept for it (``enabled: false`` holds them)."""
    subscription = _found(session, webhook_id)
    if body.url is not None:
        await _check_url(body.url, settings)
        subscription.url = body.url
    if body.events is not None:
        subscription.events = [event.value for event in body.events]
    if body.description is not None:
        subscription.description = body.description
    resume = body.enabled is True and not subscription.enabled
    if body.enabled is not None:
        subscription.enabled = body.enabled
        if body.enabled:
            subscription.disabled_reason = subscription.disabled_at = None
    session.add(subscription)
    if resume:  # what was held or given up on goes again, in order
        session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.subscription_id) == webhook_id,
                col(WebhookDelivery.status) != DeliveryStatus.DELIVERED.value,
            )
            .values(status=DeliveryStatus.PENDING.value, dispatched_at=None)
        )
    session.commit()
    session.refresh(subscription)
    if resume:
        await _dispatch(request, temporal)
    return _view(subscription)


@router.delete("/{webhook_id}")
def delete_webhook(webhook_id: Id, session: SessionDep) -> WebhookView:
    """Delete a subscription and its delivery log; nothing more is sent to it."""
    subscription = _found(session, webhook_id)
    view = _view(subscription)
    for delivery in session.exec(
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
    ):
        session.delete(delivery)
    session.flush()
    session.delete(subscription)
    session.commit()
    return view


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: Id,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    before: Annotated[int | None, Query(ge=1, description="Delivery ids below this.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryView]:
    """The delivery log, newest first: each event's status, attempts, last HTTP status."""
    _found(session, webhook_id)
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_row_id))
        .where(WebhookDelivery.subscription_id == webhook_id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    if before is not None:
        query = query.where(col(WebhookDelivery.id) < before)
    rows = session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit))
    return [_delivery_view(delivery, event) for delivery, event in rows]


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    webhook_id: Id, delivery_id: Id, request: Request, session: SessionDep, temporal: TemporalDep
) -> DeliveryView:
    """Send the event again, with the same id (a receiver that lost it, or one that was
    given up on); 409 while the subscription is disabled."""
    subscription = _found(session, webhook_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != webhook_id:
        raise not_found("delivery", delivery_id)
    if not subscription.enabled:
        raise conflict("webhook_id", "the webhook is disabled: enable it first (PATCH)")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.dispatched_at = None
    session.add(delivery)
    session.commit()
    session.refresh(delivery)
    event = session.get_one(WebhookEvent, delivery.event_row_id)
    await _dispatch(request, temporal)
    return _delivery_view(delivery, event)


async def _check_url(url: str, settings: Settings) -> None:
    policy = UrlPolicy.from_settings(settings)
    problem = policy.shape_problem(url)
    if problem is None:
        try:
            await policy.target(url)
        except UrlRefused as refused:
            problem = str(refused)
        except (OSError, TimeoutError):
            problem = "the URL's host has no address"
    if problem is not None:
        raise ProblemError(422, [Problem(field="url", reason=problem)])


async def _dispatch(request: Request, temporal: Client) -> None:
    dispatcher: Dispatcher = request.app.state.webhooks
    await dispatcher.dispatch(request.app.state.engine, temporal)


def _found(session: Session, webhook_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, webhook_id)
    if subscription is None:
        raise not_found("webhook", webhook_id)
    return subscription


def _view(row: WebhookSubscription) -> WebhookView:
    return WebhookView.model_validate(row, from_attributes=True)


def _delivery_view(delivery: WebhookDelivery, event: WebhookEvent) -> DeliveryView:
    assert delivery.id is not None
    return DeliveryView(
        id=delivery.id,
        event_id=event.event_id,
        event_type=event.type,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        status_code=delivery.status_code,
        error=delivery.error,
        last_attempt_at=delivery.last_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
