"""Outgoing webhooks: the event types, the API's models and the delivery workflow's input."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_URL_LENGTH = 2000
PAYLOAD_VERSION = 1
"""The ``version`` of every payload; a change that breaks receivers gets a new number."""


class EventType(StrEnum):
    """What a subscription can be sent."""

    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_OPENED = "message.opened"
    MESSAGE_CLICKED = "message.clicked"
    PROSPECT_REPLIED = "prospect.replied"
    PROSPECT_OPTED_OUT = "prospect.opted_out"
    PROSPECT_COMPLETED = "prospect.completed"
    PROSPECT_FAILED = "prospect.failed"
    MAILBOX_NEEDS_REAUTH = "mailbox.needs_reauth"
    CAMPAIGN_COMPLETED = "campaign.completed"


class DeliveryStatus(StrEnum):
    """Where one event stands for one subscription."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up: the subscription was disabled; redeliver or re-enable


def _unique(events: list[EventType] | None) -> list[EventType] | None:
    """Each event type at most once (None: a PATCH that leaves the events as they are)."""
    if events is not None and len(set(events)) != len(events):
        raise ValueError("each event type at most once")
    return events


class WebhookCreate(BaseModel):
    """A new subscription."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="http(s) URL.")
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    description: str = Field(default="", max_length=200)

    _unique_events = field_validator("events")(_unique)


class WebhookUpdate(BaseModel):
    """Change the fields given; ``enabled: true`` re-enables a disabled subscription and
    sends its kept events."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EventType))
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None

    _unique_events = field_validator("events")(_unique)


class WebhookView(BaseModel):
    """A subscription as the API shows it (never its secret)."""

    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime


class WebhookCreated(WebhookView):
    """The answer to create: the only time the signing secret is shown."""

    secret: str = Field(description="whsec_…: verify signatures with it; shown only here.")


class DeliveryView(BaseModel):
    """One row of a subscription's delivery log."""

    id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None
    error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class WebhookDeliveryInput(BaseModel):
    """Start of one (subscription, ordering key)'s delivery workflow: ids only, no secret."""

    subscription_id: int
    ordering_key: str
    delivery_ids: list[int] = Field(default_factory=list)
    timeout_seconds: float
    retry_initial_seconds: float
    retry_max_interval_seconds: float
    give_up_seconds: float


class DisableRequest(BaseModel):
    """A delivery that failed for good: disable (and flag) its subscription."""

    subscription_id: int
    delivery_id: int
    reason: str
