"""Request and response shapes of a sending mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from outbound.domain.schedule import WORKDAYS, ClockTime, SendDays, check_window
from outbound.domain.statuses import AuthMethod, MailboxConnection, TlsMode
from outbound.domain.validators import EmailAddress, HostName, SingleLine, TimeZoneName


class MailboxBase(BaseModel):
    """What a user tells us about a mailbox, minus its secret."""

    smtp_host: Annotated[HostName, Field(min_length=1, max_length=255)]
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    tls_mode: TlsMode = TlsMode.STARTTLS
    username: SingleLine | None = None
    from_name: Annotated[SingleLine, Field(max_length=200)] = ""
    from_address: EmailAddress
    time_zone: TimeZoneName = "UTC"
    daily_limit: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=50, description="Most messages per calendar day (mailbox time zone), all campaigns."
    )
    min_gap_seconds: Annotated[int, Field(ge=0, le=86_400)] = Field(
        default=300, description="Least time between two sends from this mailbox."
    )
    send_days: SendDays = Field(default_factory=lambda: list(WORKDAYS))
    send_start: ClockTime = "09:00"
    send_end: ClockTime = "17:00"
    plus_addressing: bool = Field(
        default=False,
        description="The mailbox receives mail for from-address+tag: bounces name their message.",
    )

    @model_validator(mode="after")
    def _window_opens_before_it_closes(self) -> MailboxBase:
        check_window(self.send_start, self.send_end)
        return self


class MailboxCreate(MailboxBase):
    """A new mailbox; the password is write-only and never returned."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": 1025,
                    "tls_mode": "none",
                    "from_name": "Ada Recruiter",
                    "from_address": "ada@example.com",
                    "time_zone": "Europe/Berlin",
                    "daily_limit": 50,
                    "min_gap_seconds": 300,
                    "send_days": ["mon", "tue", "wed", "thu", "fri"],
                    "send_start": "09:00",
                    "send_end": "17:00",
                }
            ]
        }
    )

    password: SecretStr | None = None


class MailboxReputation(BaseModel):
    """What the reputation guard sees of a mailbox: its last sends and how they fared.

    The rates are counted over at least ``min_sends`` sends (``OUTBOUND_REPUTATION_MIN_SENDS``),
    as the guard counts them; a rate above its maximum pauses the mailbox.
    """

    window_sends: int = Field(description="The guard looks at this many last sends at most.")
    min_sends: int = Field(description="Rates are counted over at least this many sends.")
    sends: int = Field(description="Sends in the window: accepted by the server or bounced.")
    hard_bounces: int = Field(description="Of those, how many bounced for good.")
    complaints: int = Field(description="Of those, how many the recipient reported as spam.")
    hard_bounce_rate: float
    complaint_rate: float
    max_hard_bounce_rate: float = Field(description="Above this the mailbox is paused.")
    max_complaint_rate: float = Field(description="Above this the mailbox is paused.")
    counted_since: datetime | None = Field(
        default=None, description="Sends before this (the last resume) no longer count."
    )


class MailboxPublic(MailboxBase):
    """A mailbox as the API shows it: whether a password is set, never the password."""

    id: int
    has_password: bool
    auth_method: AuthMethod = Field(
        default=AuthMethod.PASSWORD,
        description="password, or oauth2: signs in with its provider (never shown: the token).",
    )
    oauth_provider: str | None = Field(default=None, description="google / microsoft (oauth2).")
    connection_state: MailboxConnection
    connection_problem: str | None = Field(
        default=None, description="Why it needs re-authentication (the server's answer)."
    )
    throttled_until: datetime | None = Field(
        default=None, description="The provider rate-limited it: no send before this time."
    )
    paused_reason: str | None = Field(
        default=None,
        description="Why the reputation guard paused it (paused_reputation), with the figures; "
        "POST /mailboxes/{id}/resume lets it send again.",
    )
    reputation: MailboxReputation | None = Field(
        default=None,
        description="The reputation guard's figures: on GET /mailboxes/{id} and a resume "
        "(the list leaves them out: each costs a query over the mailbox's last sends).",
    )
    created_at: datetime


class MailboxReconnect(BaseModel):
    """New credentials for a mailbox that needs re-authentication (checked before storing)."""

    username: SingleLine | None = None
    password: SecretStr | None = None


class ReconnectResult(BaseModel):
    """The reconnected mailbox and how many waiting sequences were told to go on."""

    mailbox: MailboxPublic
    sequences_resumed: int


class ResumeResult(BaseModel):
    """The mailbox the reputation guard had paused, sending again, and how many waiting
    sequences were told to go on."""

    mailbox: MailboxPublic
    sequences_resumed: int


class InboundSecret(BaseModel):
    """The inbound webhook's secret, shown once when it is made (only its hash is stored)."""

    mailbox_id: int
    secret: str
    webhook_path: str = Field(description="POST raw RFC 822 here, with the secret as Bearer.")


class ImapSettings(BaseModel):
    """Where to read the mailbox's inbox (replies, bounces); the password is write-only."""

    host: Annotated[HostName, Field(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    tls: bool = Field(default=True, description="Implicit TLS (port 993).")
    username: Annotated[SingleLine, Field(min_length=1)]
    password: SecretStr
    folder: Annotated[SingleLine, Field(min_length=1, max_length=200)] = "INBOX"


class InboxSyncStatus(BaseModel):
    """Inbox sync of a mailbox: where it reads and the workflow that does it."""

    mailbox_id: int
    host: str
    port: int
    folder: str
    workflow_id: str
