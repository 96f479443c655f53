"""What an inbound message (reply, auto-reply, bounce) says, once parsed.

The classifier (``outbound.inbound.classify``) turns raw RFC 822 bytes into an
``InboundMessage``; matching and the pipeline decide which prospect's
sequence it concerns and what to signal. IMAP sync and the webhook both feed
the same pipeline.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from outbound.domain.statuses import InboundKind

__all__ = [
    "BouncedRecipient",
    "Complaint",
    "InboundKind",
    "InboundMessage",
    "InboxPoll",
    "InboxPollResult",
    "InboxSyncInput",
]


class BouncedRecipient(BaseModel):
    """One recipient a delivery-status notification reports on."""

    address: str = Field(description="The failed recipient, lower-cased.")
    status: str | None = Field(default=None, description="Enhanced status code, e.g. 5.1.1.")
    diagnostic: str | None = Field(default=None, description="The remote server's answer.")
    permanent: bool = Field(description="A 5.x.x failure rather than a 4.x.x one.")
    reason: str = Field(
        default="undefined",
        description="What failed, from the reasons shared with SMTP answers "
        "(outbound.mail.reasons.Reason): user_unknown, mailbox_full, blocked, …",
    )
    hard: bool = Field(
        default=False,
        description="The address is gone (no such user or domain, account disabled) and the "
        "failure is final: it is suppressed. Sender-side reasons are never hard.",
    )


class Complaint(BaseModel):
    """What an abuse report (ARF, RFC 5965, or a provider's notification) says."""

    feedback_type: str = Field(description="abuse, fraud, opt-out, … (ARF Feedback-Type).")
    address: str | None = Field(
        default=None,
        description="The recipient who complained (Original-Rcpt-To or the "
        "reported message's To), lower-cased.",
    )
    envelope_from: str | None = Field(
        default=None, description="The reported message's envelope sender (our VERP token)."
    )


class InboundMessage(BaseModel):
    """The parts of an inbound message that matching and the workflows need."""

    kind: InboundKind
    why: str = Field(description="What made the classifier decide, e.g. 'Auto-Submitted'.")
    message_id: str | None = Field(default=None, description="Its own Message-ID, with <>.")
    sender: str | None = Field(default=None, description="From address, as written.")
    recipients: list[str] = Field(
        default_factory=list,
        description="To, Delivered-To, X-Original-To, Envelope-To addresses (VERP tokens).",
    )
    subject: str = ""
    sent_at: datetime | None = Field(default=None, description="Its Date header, in UTC.")
    in_reply_to: list[str] = Field(default_factory=list, description="Message-IDs, with <>.")
    references: list[str] = Field(default_factory=list, description="Message-IDs, with <>.")
    original_message_ids: list[str] = Field(
        default_factory=list,
        description="For a DSN: Message-IDs of the message it reports on (from the returned "
        "message or its headers).",
    )
    bounces: list[BouncedRecipient] = Field(default_factory=list)
    complaint: Complaint | None = None
    snippet: str = Field(default="", description="The start of the new text (quotes removed).")
    text: str = Field(
        default="",
        description="An auto-reply's new text (quotes removed; its first 4 KB), where a return "
        "date is read (``inbound.return_date``); empty for other kinds.",
    )


class InboxSyncInput(BaseModel):
    """Where a mailbox's inbox sync stands; carried across continue-as-new.

    The position (UIDVALIDITY and the last UID processed) lives in the
    workflow, so it is as durable as the workflow's history.
    """

    mailbox_id: int
    uidvalidity: int | None = Field(default=None, description="None: start from what arrives.")
    last_uid: int = 0
    processed: int = Field(default=0, description="Messages handled since sync began.")


class InboxPoll(BaseModel):
    """Read and process the next messages of a mailbox's inbox after a position."""

    mailbox_id: int
    uidvalidity: int | None
    last_uid: int
    limit: int = Field(gt=0)


class InboxPollResult(BaseModel):
    """The position after the messages handled; ``enabled`` False when IMAP was switched off."""

    enabled: bool
    uidvalidity: int | None = None
    last_uid: int = 0
    handled: int = 0
