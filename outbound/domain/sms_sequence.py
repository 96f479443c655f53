"""Payloads of a sequence's SMS steps that cross the Temporal boundary.

Plain pydantic, like ``domain.sequence``: no secret (the provider's auth token
stays in the database), and the recipient's number only where an activity needs it.

An SMS message's lifecycle (seed 004): ``Queued`` (holding its sender's slot) →
``Sending`` (handed to the provider) → ``Sent`` (the provider's ``sent`` report) →
``Delivered``; or ``Failed`` (the provider's reason; ``Timed Out`` when no ``sent``
came within 10 minutes of the hand-over) or ``OptedOut``; ``AssumedDelivered``
when ``Sent`` got no final report within 10 minutes. ``outbound.sms.lifecycle``
orders these so that a late or repeated report never undoes a later one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from outbound.domain.schedule import QuietHoursSpec, WindowSpec
from outbound.domain.statuses import MessageStatus


class SmsRecipient(BaseModel):
    """Where a sequence's SMS steps go, fixed at Start."""

    sender_id: int
    to_number: str | None = Field(
        description="E.164: the prospect's first mobile (else first) number; None: no number."
    )
    quiet_hours: QuietHoursSpec = Field(
        description="The recipient's legal hours (``legal_window`` of their zones, narrowed "
        "by the workspace); every SMS slot lies inside them."
    )


class ReserveSmsSlotRequest(BaseModel):
    """Ask for the SMS sender's earliest free slot at or after ``not_before``.

    The SMS twin of :class:`ReserveSlotRequest`: ``key`` names the attempt, and
    asking again with the same key returns the same slot. ``window`` is when the
    message may go (the store intersects nothing more with it yet).
    """

    key: str
    enrollment_id: int
    position: int
    sender_id: int
    to_number: str = Field(description="E.164.")
    not_before: datetime
    window: WindowSpec
    quiet_hours: QuietHoursSpec | None = Field(
        default=None, description="The recipient's legal hours; the slot lies inside them too."
    )


class ReleaseSmsSlotRequest(BaseModel):
    """Give an SMS slot back (pause, stop, reply, cancel, missed slot)."""

    key: str
    enrollment_id: int
    position: int
    to_number: str = Field(description="E.164.")
    message_status: MessageStatus | None = Field(
        default=None, description="New message-log status for the step, if it changes."
    )


class SendSmsRequest(BaseModel):
    """Ask the SMS activity to hand one step's text to the provider.

    Idempotent per (enrollment, position, number): the message row says whether an
    earlier attempt already handed it over, and then nothing is sent again.
    """

    enrollment_id: int
    position: int
    sender_id: int
    to_number: str = Field(description="E.164.")
    scheduled_at: datetime | None = Field(
        default=None, description="The reserved slot: the send is refused if far past it."
    )
    slot_key: str | None = None


class SendSmsResult(BaseModel):
    """The provider took the message (or an earlier attempt had handed it over)."""

    provider_sid: str | None = Field(
        description="The provider's id; None when an earlier attempt was cut off mid-hand-over "
        "(its status callback, addressed by our message id, still finds the message)."
    )
    status: MessageStatus = Field(description="The message's status now (Sending or later).")
    already_sent: bool = False


class SmsStatusUpdate(BaseModel):
    """Signal payload: a verified status callback for one SMS step of the sequence."""

    key: str = Field(description="De-duplication key (provider sid and status).")
    position: int
    status: MessageStatus = Field(description="Sending, Sent, Delivered, Failed or OptedOut.")
    reason: str | None = Field(default=None, description="The provider's error, for Failed.")


class SmsOptOut(BaseModel):
    """Signal payload: the number texted STOP (or the provider said it opted out)."""

    key: str = Field(description="De-duplication key (the inbound message's sid).")
    number: str = Field(description="E.164.")


class SettleSmsRequest(BaseModel):
    """Record an SMS's status the workflow decided (Timed Out, Assumed Delivered, …).

    Applied only if it advances the message (``sms.lifecycle.advances``): a report
    that came meanwhile wins.
    """

    enrollment_id: int
    position: int
    to_number: str
    status: MessageStatus
    reason: str | None = None
