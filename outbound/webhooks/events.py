"""The webhook events a sequence's state tells of, each with its dedup key.

Pure: the records activity calls :func:`enrollment_events` with every state it
mirrors and stores whichever events are new (``outbound.store.webhooks.emit``
skips the dedup keys already stored). So an event's id follows from what it
is — type, enrollment, step, message — never from when it was noticed.
"""

from __future__ import annotations

from typing import Any

from outbound.domain.sequence import EnrollmentState
from outbound.domain.statuses import MessageStatus, ProspectStatus
from outbound.domain.webhooks import EventType
from outbound.store.tables import Enrollment, Message
from outbound.store.webhooks import NewEvent

_PROSPECT_EVENTS = {
    ProspectStatus.REPLIED: EventType.PROSPECT_REPLIED,
    ProspectStatus.OPTED_OUT: EventType.PROSPECT_OPTED_OUT,
    ProspectStatus.COMPLETED: EventType.PROSPECT_COMPLETED,
    ProspectStatus.FAILED: EventType.PROSPECT_FAILED,
}


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def enrollment_events(state: EnrollmentState, campaign_id: int, prospect_id: int) -> list[NewEvent]:
    """Every event ``state`` shows, in the order they happened (sends by step, then
    bounces, then the prospect's status)."""
    enrollment = state.enrollment_id
    key = f"enrollment-{enrollment}"
    about = {"campaign_id": campaign_id, "prospect_id": prospect_id, "enrollment_id": enrollment}
    events: list[NewEvent] = []
    for step in sorted(state.steps, key=lambda step: step.position):
        if step.sent_at is None:
            continue
        message = step.message_id or _iso(step.sent_at)
        data = {
            **about,
            "step": step.position,
            "to": step.slot_address or state.to_address,
            "message_id": step.message_id,
            "sent_at": _iso(step.sent_at),
        }
        events.append(
            NewEvent(
                EventType.MESSAGE_SENT,
                f"message.sent:{enrollment}:{step.position}:{message}",
                key,
                data,
            )
        )
        if step.sms_status is MessageStatus.DELIVERED:
            events.append(
                NewEvent(
                    EventType.MESSAGE_DELIVERED,
                    f"message.delivered:{enrollment}:{step.position}:{message}",
                    key,
                    {**data, "delivered_at": _iso(step.sms_status_at)},
                )
            )
    for address in state.bounced_addresses:
        events.append(
            NewEvent(
                EventType.MESSAGE_BOUNCED,
                f"message.bounced:{enrollment}:{address}",
                key,
                {**about, "address": address},
            )
        )
    kind = _PROSPECT_EVENTS.get(state.status)
    if kind is not None:
        dedup = f"{kind.value}:{enrollment}"
        if kind is EventType.PROSPECT_FAILED:
            dedup += f":{state.current_step}"
        data = {**about, "status": state.status.value, "reason": state.reason}
        if kind is EventType.PROSPECT_REPLIED:
            data["replied_at"] = _iso(state.replied_at)
        events.append(NewEvent(kind, dedup, key, data))
    return events


def campaign_completed(state: EnrollmentState, campaign_id: int) -> NewEvent:
    """The campaign's last sequence ended (a late bounce can reopen and complete it again:
    each completion is its own event, named by the state that completed it)."""
    return NewEvent(
        EventType.CAMPAIGN_COMPLETED,
        f"campaign.completed:{campaign_id}:{state.enrollment_id}:{_iso(state.updated_at)}",
        f"campaign-{campaign_id}",
        {"campaign_id": campaign_id},
    )


def needs_reauth(mailbox_id: int, connection_version: int, problem: str) -> NewEvent:
    """The mailbox's server refused its credentials: sends through it wait for a reconnect
    (once per connection version: a reconnect and a new refusal is a new event)."""
    return NewEvent(
        EventType.MAILBOX_NEEDS_REAUTH,
        f"mailbox.needs_reauth:{mailbox_id}:{connection_version}",
        f"mailbox-{mailbox_id}",
        {"mailbox_id": mailbox_id, "problem": problem},
    )


def tracked(
    kind: str, tracking_event_id: int, message: Message, enrollment: Enrollment, link: int | None
) -> NewEvent:
    """An open (the pixel) or a click, one event per hit stored, in the prospect's order."""
    opened = kind == "open"
    data: dict[str, Any] = {
        "campaign_id": enrollment.campaign_id,
        "prospect_id": enrollment.prospect_id,
        "enrollment_id": enrollment.id,
        "step": message.position,
        "message_id": message.message_id,
    }
    if not opened:
        data["link_position"] = link
    return NewEvent(
        EventType.MESSAGE_OPENED if opened else EventType.MESSAGE_CLICKED,
        f"message.{'opened' if opened else 'clicked'}:{tracking_event_id}",
        f"enrollment-{enrollment.id}",
        data,
    )
