"""Webhook events and deliveries in the store: emitted in the caller's transaction.

:func:`emit` is called inside the transaction that makes the change an event
tells of (a step recorded as sent, a campaign completed, a click stored), so an
event exists exactly when its change does. Each event has a dedup key (type,
enrollment, step, …): a retried activity that emits again finds the stored
row and adds nothing, so the event keeps its one id. A workspace without a
subscription to the type pays one SELECT and stores nothing.

Each subscribed URL gets a delivery row; :func:`claim_undispatched` hands the
rows not yet given to a delivery workflow to the dispatcher
(``outbound.webhooks.dispatch``). A disabled subscription's rows are kept and
claimed again once it is enabled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from outbound.domain.webhooks import PAYLOAD_VERSION, DeliveryStatus, EventType
from outbound.store.tables import WebhookDelivery, WebhookEvent, WebhookSubscription, utc_now


@dataclass(frozen=True)
class NewEvent:
    """An event to store: its type, what makes it unique, whose order it keeps, its data."""

    type: EventType
    dedup_key: str
    ordering_key: str
    data: dict[str, Any]


def event_id_for(workspace_id: int, dedup_key: str) -> str:
    """The event's stable id, derived from its dedup key (the same on every emission)."""
    digest = hashlib.sha256(f"{workspace_id}\n{dedup_key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def emit(connection: Connection, workspace_id: int, events: list[NewEvent]) -> int:
    """Store ``events`` (in order) and a delivery per subscribed URL; returns how many
    new delivery rows were made (0: nothing to start)."""
    if not events:  # most state records tell of no event: no query on the send path
        return 0
    subscriptions = connection.execute(
        select(WebhookSubscription.id, WebhookSubscription.events).where(
            WebhookSubscription.workspace_id == workspace_id
        )
    ).all()
    wanted = [
        event for event in events if any(event.type.value in types for _, types in subscriptions)
    ]
    if not wanted:
        return 0
    known = set(
        connection.execute(
            select(WebhookEvent.dedup_key).where(
                WebhookEvent.workspace_id == workspace_id,
                col(WebhookEvent.dedup_key).in_([event.dedup_key for event in wanted]),
            )
        ).scalars()
    )
    made = 0
    for event in wanted:
        if event.dedup_key in known:
            continue
        event_id = event_id_for(workspace_id, event.dedup_key)
        payload = {
            "id": event_id,
            "type": event.type.value,
            "version": PAYLOAD_VERSION,
            "timestamp": utc_now().isoformat().replace("+00:00", "Z"),
            "workspace_id": workspace_id,
            "data": event.data,
        }
        row_id = _insert_new_event(
            connection,
            workspace_id=workspace_id,
            event_id=event_id,
            dedup_key=event.dedup_key,
            type=event.type.value,
            ordering_key=event.ordering_key,
            payload=json.dumps(payload, separators=(",", ":")),
            created_at=utc_now(),
        )
        if row_id is None:  # emitted meanwhile by another attempt
            continue
        for subscription_id, types in subscriptions:
            if event.type.value in types:
                connection.execute(
                    insert(WebhookDelivery).values(
                        workspace_id=workspace_id,
                        subscription_id=subscription_id,
                        event_row_id=row_id,
                        ordering_key=event.ordering_key,
                        status=DeliveryStatus.PENDING.value,
                        attempts=0,
                        created_at=utc_now(),
                    )
                )
                made += 1
    return made


def _insert_new_event(connection: Connection, **values: Any) -> int | None:
    """INSERT unless the (workspace, dedup key) is stored; the new row's id or None."""
    dialect = connection.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = pg_insert(WebhookEvent).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(WebhookEvent).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - the two supported databases are above
        statement = insert(WebhookEvent).values(**values)
    row_id: int | None = connection.execute(
        statement.returning(col(WebhookEvent.id))
    ).scalar_one_or_none()
    return row_id


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscription_id: int
    ordering_key: str


REDISPATCH_AFTER = timedelta(minutes=10)
"""A pending delivery handed to a workflow this long ago is handed again: the process
may have died between marking it and starting the workflow. Handing twice is harmless
(the workflow ignores an id it holds; the activity skips a delivered one)."""


def claim_undispatched(engine: Engine, limit: int = 500) -> list[Claimed]:
    """Pending deliveries of enabled subscriptions not handed to a workflow (or handed
    :data:`REDISPATCH_AFTER` ago), oldest first, marked as handed now."""
    due = or_(
        col(WebhookDelivery.dispatched_at).is_(None),
        col(WebhookDelivery.dispatched_at) < utc_now() - REDISPATCH_AFTER,
    )
    with engine.begin() as connection:
        rows = connection.execute(
            select(
                WebhookDelivery.id, WebhookDelivery.subscription_id, WebhookDelivery.ordering_key
            )
            .join(
                WebhookSubscription,
                col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
            )
            .where(
                due,
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                col(WebhookSubscription.enabled),
            )
            .order_by(col(WebhookDelivery.id))
            .limit(limit)
        ).all()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        connection.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(ids), due)
            .values(dispatched_at=utc_now())
        )
    return [Claimed(*row) for row in rows]


def unclaim(engine: Engine, delivery_ids: list[int]) -> None:
    """Give deliveries back (their workflow could not be started): the next dispatch."""
    with engine.begin() as connection:
        connection.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(delivery_ids))
            .values(dispatched_at=None)
        )
