"""Which webhook deliveries a dispatch hands to their workflows (SQLite and PostgreSQL).

A delivery marked as handed by a process that died before starting its workflow
must not wait for ever: ten minutes on, while still pending, it is handed again
(harmless if it was handed after all: the workflow ignores an id it holds).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from outbound.accounts.members import create_workspace
from outbound.store.tables import WebhookDelivery, WebhookEvent, WebhookSubscription, utc_now
from outbound.store.webhooks import REDISPATCH_AFTER, claim_undispatched


def deliveries(
    engine: Engine, handed: list[timedelta | None], status: str = "pending"
) -> list[int]:
    """One delivery per entry, handed that long ago (None: never)."""
    workspace, _ = create_workspace(engine, "hooks", "ada@example.com")
    with Session(engine) as session:
        subscription = WebhookSubscription(
            workspace_id=workspace, url="https://crm.example.com/h", secret_encrypted="x"
        )
        session.add(subscription)
        session.flush()
        ids = []
        for n, ago in enumerate(handed):
            event = WebhookEvent(
                workspace_id=workspace,
                event_id=f"evt_{n}",
                dedup_key=f"k{n}",
                type="message.sent",
                ordering_key="prospect-1",
                payload="{}",
            )
            session.add(event)
            session.flush()
            row = WebhookDelivery(
                workspace_id=workspace,
                subscription_id=subscription.id or 0,
                event_row_id=event.id or 0,
                ordering_key="prospect-1",
                status=status,
                dispatched_at=None if ago is None else utc_now() - ago,
            )
            session.add(row)
            session.flush()
            ids.append(row.id or 0)
        session.commit()
    return ids


def test_undispatched_and_long_stranded_deliveries_are_handed_once_each(engine: Engine) -> None:
    never, stranded, _handed_a_minute_ago = deliveries(
        engine, [None, REDISPATCH_AFTER + timedelta(minutes=1), timedelta(minutes=1)]
    )

    first = {c.delivery_id for c in claim_undispatched(engine)}
    again = claim_undispatched(engine)

    assert first == {never, stranded}
    assert again == []  # both now handed a moment ago


def test_delivered_ones_are_never_handed_again(engine: Engine) -> None:
    deliveries(engine, [None, REDISPATCH_AFTER * 2], status="delivered")

    assert claim_undispatched(engine) == []
