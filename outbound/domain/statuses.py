"""The status names users see, exactly as PRODUCT.md spells them."""

from __future__ import annotations

from enum import StrEnum


class ProspectStatus(StrEnum):
    """Status of a prospect within one campaign (one enrollment)."""

    NOT_STARTED = "NotStarted"
    ACTIVE = "Active"
    PAUSED = "Paused"
    MANUAL_TASK = "ManualTask"
    REPLIED = "Replied"
    BOUNCED = "Bounced"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"
    OPTED_OUT = "OptedOut"
    REMOVED = "Removed"

    @property
    def is_terminal(self) -> bool:
        """Whether the sequence has ended for good (no message will follow).

        Failed is not terminal: the prospect waits for a manual Retry (rule 8).
        """
        return self in _TERMINAL_PROSPECT

    @property
    def is_settled(self) -> bool:
        """Nothing more happens unless a user acts: ended, or Failed awaiting a Retry."""
        return self.is_terminal or self is ProspectStatus.FAILED


_TERMINAL_PROSPECT = frozenset(
    {
        ProspectStatus.REPLIED,
        ProspectStatus.BOUNCED,
        ProspectStatus.COMPLETED,
        ProspectStatus.STOPPED,
        ProspectStatus.OPTED_OUT,
        ProspectStatus.REMOVED,
    }
)


class StepStatus(StrEnum):
    """Status of one step of one prospect's sequence."""

    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    SENDING = "Sending"
    SENT = "Sent"
    RETRYING = "Retrying"
    MANUAL_TASK = "ManualTask"
    SKIPPED = "Skipped"
    STOPPED = "Stopped"
    FAILED = "Failed"
    CANCELED = "Canceled"


class MessageStatus(StrEnum):
    """Status of one message in the message log."""

    WAITING = "Waiting"
    QUEUED = "Queued"  # an SMS holding its sender's slot
    SENDING = "Sending"
    SENT = "Sent"
    DELIVERED = "Delivered"
    ASSUMED_DELIVERED = "AssumedDelivered"  # an SMS the provider took, no receipt came
    RETRYING = "Retrying"
    FAILED = "Failed"
    BOUNCED = "Bounced"
    CANCELED = "Canceled"
    OPTED_OUT = "OptedOut"


class CampaignStatus(StrEnum):
    """Campaign lifecycle: Draft → Ready → InProgress (⇄ Paused) → Stopped / Completed."""

    DRAFT = "Draft"
    READY = "Ready"
    IN_PROGRESS = "InProgress"
    PAUSED = "Paused"
    STOPPED = "Stopped"
    COMPLETED = "Completed"


class MailboxConnection(StrEnum):
    """Whether a mailbox can send (PRODUCT.md: connected / needs re-authentication)."""

    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    PAUSED_REPUTATION = "paused_reputation"
    """The reputation guard paused it (bounce or complaint rate too high): a user resumes it."""


class AuthMethod(StrEnum):
    """How a mailbox signs in to its SMTP and IMAP servers."""

    PASSWORD = "password"  # noqa: S105 (a method name)
    OAUTH2 = "oauth2"  # an OAuth provider's access token (XOAUTH2 / OAUTHBEARER)


class TlsMode(StrEnum):
    """How the SMTP connection is secured."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class AddressType(StrEnum):
    """Kind of a prospect's email address (SeekOut's personal / work / other)."""

    PERSONAL = "personal"
    WORK = "work"
    OTHER = "other"


class PhoneType(StrEnum):
    """Kind of a prospect's phone number."""

    MOBILE = "mobile"
    WORK = "work"
    OTHER = "other"


class StepKind(StrEnum):
    """An email or a text (SMS) the workflow sends, or a task the user does by hand (a call,
    a LinkedIn note)."""

    EMAIL = "email"
    SMS = "sms"
    MANUAL_TASK = "manual_task"


class ThreadMode(StrEnum):
    """Whether a follow-up replies in the previous message's thread or starts a new one."""

    SAME_THREAD = "same_thread"
    NEW_THREAD = "new_thread"


class InboundKind(StrEnum):
    """What an inbound message is, as far as a sequence is concerned."""

    REPLY = "reply"  # a person answered: the sequence stops (Replied)
    AUTO_REPLY = "auto_reply"  # out-of-office and other automatic answers: recorded, goes on
    BOUNCE = "bounce"  # a delivery-status notification reporting failure
    DELAYED = "delayed"  # a DSN reporting delay only: not a bounce
    DELIVERED = "delivered"  # a DSN reporting success (delivered, relayed, expanded)
    COMPLAINT = "complaint"  # an abuse report (ARF, a provider's feedback loop): an opt-out
    UNRECOGNISED_NOTICE = "unrecognised_notice"  # from a mail system, not understood: kept raw
    OTHER = "other"  # anything else (newsletters, our own copies, …): recorded, ignored
    UNSUBSCRIBE = "unsubscribe"  # the List-Unsubscribe mailto (our signed token, Apple Mail's)
    UNREADABLE = "unreadable"  # inbox sync only: bytes that are not a message, kept raw


class SuppressionSource(StrEnum):
    """Why an address is on the suppression list."""

    HARD_BOUNCE = "hard_bounce"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    SMS_STOP = "sms_stop"  # the number texted STOP, or the provider said it opted out
