"""Database tables. Only the store, API handlers and activities touch these classes.

Statuses are stored as their user-facing names (see ``outbound.domain.statuses``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    """Timestamps are always timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Store UTC, read back aware datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    """A timestamp column (aware UTC)."""
    return Field(sa_type=UtcDateTime, **kwargs)


class Workspace(SQLModel, table=True):
    """A team's own corner of the installation: every mailbox, campaign, prospect and list
    belongs to exactly one workspace, and nothing crosses between workspaces."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime = _when(default_factory=utc_now)
    sms_quiet_start: str = Field(
        default="08:00",
        sa_column_kwargs={"server_default": "08:00"},
        description="Texts go from this local time of the recipient (never before 08:00).",
    )
    sms_quiet_end: str = Field(
        default="21:00",
        sa_column_kwargs={"server_default": "21:00"},
        description="…until this one (never after 21:00).",
    )
    domain_hourly_cap: int | None = Field(
        default=None,
        description="Most messages per mailbox per clock hour to one recipient domain "
        "(None: the deployment's default).",
    )
    domain_daily_cap: int | None = Field(
        default=None, description="…per mailbox-local day (None: the deployment's default)."
    )
    domain_caps: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default="{}"),
        description='Caps of named domains: {"gmail.com": {"hourly": 5, "daily": 40}}.',
    )
    recontact_cooldown_days: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="A prospect whose sequence ended fewer days ago is refused at enrollment.",
    )


class User(SQLModel, table=True):
    """A person who uses Outbound; belongs to workspaces through memberships."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    email: str | None = Field(default=None, unique=True, description="Lower-cased.")
    name: str = ""
    created_at: datetime = _when(default_factory=utc_now)


class Membership(SQLModel, table=True):
    """A user's role in a workspace: ``admin`` or ``member``."""

    __table_args__ = (UniqueConstraint("workspace_id", "user_id", name="uq_membership_user"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    role: str
    created_at: datetime = _when(default_factory=utc_now)


class ApiKey(SQLModel, table=True):
    """An API key of one user in one workspace, stored as an Argon2 hash only.

    ``prefix`` is the visible start of the key (``obk_1a2b3c4d5e6f``): it finds the
    row, and a leaked key can be recognised and revoked by it.
    """

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = ""
    prefix: str = Field(unique=True)
    secret_hash: str = Field(repr=False)
    created_at: datetime = _when(default_factory=utc_now)
    last_used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class MailboxGrant(SQLModel, table=True):
    """A member allowed to send through a workspace's mailbox (a hiring manager's, say)."""

    __table_args__ = (UniqueConstraint("mailbox_id", "user_id", name="uq_mailboxgrant_user"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    granted_at: datetime = _when(default_factory=utc_now)


class AuditEntry(SQLModel, table=True):
    """Who changed what, when: one row per state-changing API call, refused ones too."""

    __table_args__ = (Index("ix_audit_object", "workspace_id", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    key_prefix: str
    method: str
    route: str = Field(description="The route's path template, e.g. /campaigns/{campaign_id}.")
    path: str
    object_type: str | None = None
    object_id: str | None = None
    status_code: int
    at: datetime = _when(default_factory=utc_now, index=True)


class Mailbox(SQLModel, table=True):
    """A connected sending account."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    smtp_host: str
    smtp_port: int
    tls_mode: str
    username: str | None = None
    smtp_password_encrypted: str | None = Field(
        default=None, repr=False, description="Encrypted (outbound.store.encryption)."
    )
    from_name: str = ""
    from_address: str
    time_zone: str = "UTC"
    daily_limit: int = 50
    min_gap_seconds: int = 300
    send_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], sa_column=Column(JSON))
    send_start: str = "09:00"
    send_end: str = "17:00"
    plus_addressing: bool = Field(
        default=False, description="Accepts local+tag@domain: bounces are tied to messages."
    )
    reservation_version: int = Field(
        default=0, description="Bumped by every slot reservation: serialises them per mailbox."
    )
    last_send_at: datetime | None = _when(default=None)
    last_send_key: str | None = Field(
        default=None, description="Slot key of the last send started (its retries may go on)."
    )
    connection_state: str = Field(default="connected", description="connected / needs_reauth")
    connection_problem: str | None = Field(
        default=None, description="Why the mailbox needs re-authentication (server's answer)."
    )
    connection_version: int = Field(
        default=0, description="Bumped by every reconnect: parked sends wait for a newer one."
    )
    throttled_until: datetime | None = _when(
        default=None, description="The provider's rate limit: no send before this time."
    )
    imap_host: str | None = Field(default=None, description="Inbox sync (replies, bounces).")
    imap_port: int = 993
    imap_tls: bool = True
    imap_username: str | None = None
    imap_password_encrypted: str | None = Field(
        default=None, repr=False, description="Encrypted (outbound.store.encryption)."
    )
    imap_folder: str = "INBOX"
    inbound_secret_hash: str | None = Field(
        default=None, repr=False, description="SHA-256 of the inbound webhook's secret."
    )
    auth_method: str = Field(default="password", description="password / oauth2 (AuthMethod).")
    oauth_provider: str | None = Field(default=None, description="google / microsoft.")
    oauth_refresh_token_encrypted: str | None = Field(
        default=None, repr=False, description="Encrypted (outbound.store.encryption)."
    )
    warmup_start: int | None = Field(
        default=None, description="Warm-up: the daily limit on its first day (None: no ramp)."
    )
    warmup_increment: int = Field(
        default=0, sa_column_kwargs={"server_default": "0"}, description="Added each day."
    )
    warmup_started_on: date | None = Field(
        default=None, description="The ramp's first day (mailbox-local)."
    )
    holiday_calendar: str | None = Field(
        default=None, description='No slot on its holidays: "US", "DE-BY" (holidays library).'
    )
    blackout_dates: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="Extra days without sends (ISO dates, mailbox-local).",
    )
    paused_reason: str | None = Field(
        default=None,
        description="Why the reputation guard paused it, with its figures "
        "(connection_state paused_reputation).",
    )
    reputation_since: datetime | None = _when(
        default=None,
        description="The reputation guard counts sends from this moment on (its last resume): "
        "a resumed mailbox starts a fresh window.",
    )
    created_at: datetime = _when(default_factory=utc_now)


class OAuthConnect(SQLModel, table=True):
    """One admin's sign-in with an OAuth provider, from start to callback (single use).

    The ``state`` the provider hands back is signed and names this row; the
    callback claims the row once (``used_at``), so a state replayed, forged or
    older than its ``expires_at`` connects nothing.
    """

    __tablename__ = "oauth_connect"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    provider: str
    nonce: str = Field(repr=False, description="Echoed in the ID token: binds it to this sign-in.")
    code_verifier_encrypted: str = Field(repr=False, description="PKCE verifier, encrypted.")
    mailbox_id: int | None = Field(
        default=None, foreign_key="mailbox.id", description="The mailbox to reconnect, if any."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON), description="A new mailbox's settings."
    )
    created_at: datetime = _when(default_factory=utc_now)
    expires_at: datetime = _when()
    used_at: datetime | None = _when(default=None)


class Campaign(SQLModel, table=True):
    """A sequence of steps: emails sent from one mailbox, texts from one SMS sender (an
    all-SMS campaign has no mailbox, an email-only one no sender)."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str
    owner_user_id: int = Field(foreign_key="user_account.id", index=True)
    mailbox_id: int | None = Field(default=None, foreign_key="mailbox.id", index=True)
    sms_sender_id: int | None = Field(default=None, foreign_key="sms_sender.id", index=True)
    status: str = Field(index=True)
    grace_seconds: int
    send_days: list[int] | None = Field(default=None, sa_column=Column(JSON))
    send_start: str | None = None
    send_end: str | None = None
    address_preference: str | None = None
    only_preferred_type: bool = False
    time_zone_source: str = "mailbox"
    when_to_send: str = "when_started"
    specific_time: str | None = None
    created_at: datetime = _when(default_factory=utc_now)
    started_at: datetime | None = _when(default=None)
    consent_accepted_by: str | None = None
    consent_accepted_at: datetime | None = _when(default=None)
    track_opens: bool = False
    track_clicks: bool = False
    mailbox_pool: list[int] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="Rotation: the mailboxes the email steps go from (empty: mailbox_id alone). "
        "Each prospect is given one of them at their first slot and keeps it.",
    )
    company_rule: str | None = Field(
        default=None,
        description="When a prospect replies, bounces or opts out, colleagues in this "
        "campaign are: stop / pause (None: nothing happens to them).",
    )
    one_per_company: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="At most one active prospect per company at a time.",
    )
    holiday_calendar: str | None = Field(
        default=None, description='No slot on its holidays: "US", "DE-BY" (holidays library).'
    )
    blackout_dates: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="Extra days without sends (ISO dates, in the campaign window's zone).",
    )


class Step(SQLModel, table=True):
    """One step of a campaign (an email or a manual task), at a 1-based position."""

    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int
    kind: str = "email"
    subject: str = Field(default="", description="Empty for a manual task.")
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    task: str | None = Field(default=None, description="What to do, for a manual task.")
    delay_days: int = 0
    delay_minutes: int = 0
    thread_mode: str
    skipped: bool = Field(default=False, description="Skipped for everyone (running campaign).")


class Prospect(SQLModel, table=True):
    """A person; extra template fields live in ``fields``."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    time_zone: str | None = None
    fields: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when(default_factory=utc_now)


class ProspectAddress(SQLModel, table=True):
    """One of a prospect's addresses, in relevance order (``position``)."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "address", name="uq_prospectaddress_workspace_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    prospect_id: int = Field(foreign_key="prospect.id", index=True)
    position: int
    address: str
    type: str
    use_first: bool = False


class Enrollment(SQLModel, table=True):
    """A prospect in a campaign; mirrors the state of its workflow for listing."""

    __table_args__ = (UniqueConstraint("campaign_id", "prospect_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    prospect_id: int = Field(foreign_key="prospect.id", index=True)
    status: str = Field(index=True)
    reason: str | None = None
    current_step: int = 0
    to_address: str | None = None
    workflow_id: str | None = None
    override_address: str | None = Field(
        default=None, description="Address chosen for this campaign only (profile unchanged)."
    )
    halt_status: str | None = Field(
        default=None,
        description="Stop/reply asked for by the API: the send activity's last look reads it.",
    )
    awaiting_retry: bool = Field(
        default=False, description="Failed, and its step still waits for a manual Retry."
    )
    replied_at: datetime | None = _when(default=None)
    reply_snippet: str | None = Field(default=None, description="The start of the reply.")
    state_version: datetime | None = _when(
        default=None, description="updated_at of the workflow state last mirrored here."
    )
    mailbox_id: int | None = Field(
        default=None,
        foreign_key="mailbox.id",
        index=True,
        description="The mailbox this prospect's email goes from, set at their first slot "
        "(a pool campaign's choice; None before: the campaign's mailbox_id).",
    )
    ended_at: datetime | None = _when(
        default=None, description="When the sequence reached a terminal status (cooldown)."
    )
    updated_at: datetime = _when(default_factory=utc_now)


class EnrollmentStep(SQLModel, table=True):
    """Status of one step for one enrollment."""

    __table_args__ = (UniqueConstraint("enrollment_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    position: int
    status: str
    scheduled_at: datetime | None = _when(default=None)
    sent_at: datetime | None = _when(default=None)
    reason: str | None = None


class Message(SQLModel, table=True):
    """The message log: one row per message attempted for an (enrollment, step, address).

    A bounce that moves a step on to the prospect's next address adds a row.
    """

    __table_args__ = (UniqueConstraint("enrollment_id", "position", "to_address"),)

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    position: int
    to_address: str
    subject: str = ""
    message_id: str = Field(index=True)
    envelope_from: str | None = Field(default=None, index=True)
    status: str
    scheduled_at: datetime | None = _when(default=None)
    sent_at: datetime | None = _when(default=None)
    attempts: int = 0
    failure_reason: str | None = None
    handed_over_at: datetime | None = _when(
        default=None,
        description=(
            "When the current attempt began to hand the message to the server (DATA). An "
            "attempt cut off after this, before the answer was recorded, may have delivered "
            "it: it is never resent without the user's Retry."
        ),
    )
    channel: str = Field(
        default="email",
        sa_column_kwargs={"server_default": "email"},
        description="email / sms: an SMS's to_address is the number (E.164).",
    )
    provider_sid: str | None = Field(
        default=None, index=True, description="The SMS provider's id of the message."
    )
    created_at: datetime = _when(default_factory=utc_now)


class SlotReservation(SQLModel, table=True):
    """A send slot of a mailbox, held for one (enrollment, step) attempt.

    ``key`` makes reservation idempotent: a retried activity finds its slot.
    Released slots (pause, stop, reply, cancel) no longer count; used and held
    ones count towards the daily limit and the gap.
    """

    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_slot_mailbox_time", "mailbox_id", "slot_at"),
        Index(
            "ix_slot_active_domain",
            "mailbox_id",
            "to_domain",
            "slot_day",
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
        # Only held and used slots count: a partial index keeps the per-day count cheap.
        Index(
            "ix_slot_active_day",
            "mailbox_id",
            "slot_day",
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    mailbox_id: int = Field(foreign_key="mailbox.id")
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    position: int
    slot_at: datetime = _when()
    slot_day: date = Field(description="Mailbox-local calendar day of the slot (daily limit).")
    to_domain: str | None = Field(
        default=None, description="The recipient's domain, lower-cased (per-domain caps)."
    )
    reserved_at: datetime = _when(default_factory=utc_now)
    released_at: datetime | None = _when(default=None)


class Suppression(SQLModel, table=True):
    """An address a workspace's campaigns never send to (hard bounce, opt-out, or by hand)."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "address", name="uq_suppression_workspace_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    address: str = Field(description="Lower-cased address.")
    source: str = Field(description="hard_bounce / unsubscribe / manual")
    detail: str = ""
    created_at: datetime = _when(default_factory=utc_now)
    removed_at: datetime | None = _when(
        default=None, description="Taken off the list by a user (kept for the audit trail)."
    )
    removed_reason: str | None = None


class MessageLink(SQLModel, table=True):
    """The opaque key a message's signed links name it by (``outbound.tracking.tokens``).

    Links never carry a row id; the key is an HMAC of (enrollment, step, address),
    the same for every attempt of one send, stored with the message's first attempt.
    """

    key: str = Field(primary_key=True, max_length=32)
    message_row_id: int = Field(foreign_key="message.id", unique=True)


class TrackedLink(SQLModel, table=True):
    """A link of a sent message, as the user wrote it: the click redirect goes only here."""

    __table_args__ = (UniqueConstraint("message_row_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True)
    position: int = Field(description="1-based, in the order the links appear in the body.")
    url: str = Field(sa_column=Column(Text, nullable=False))


class TrackingEvent(SQLModel, table=True):
    """A recipient's open, click or unsubscribe, on one message of the log.

    Every hit is kept (the prospect's "opened 3 times"); unique counts take
    distinct messages or prospects.
    """

    __table_args__ = (Index("ix_tracking_message_kind", "message_row_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id")
    kind: str = Field(description="open / click / unsubscribe")
    link_position: int | None = None
    at: datetime = _when(default_factory=utc_now)


class InboundEvent(SQLModel, table=True):
    """One inbound message of a mailbox (IMAP or webhook), recorded once, with what it did.

    ``dedup_key`` (its Message-ID, else a hash of its bytes) is unique per
    mailbox: the same message seen by inbox sync and the webhook acts once.
    """

    __table_args__ = (UniqueConstraint("mailbox_id", "dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True)
    dedup_key: str
    source: str = Field(description="imap / webhook")
    kind: str = Field(description="An InboundKind: reply, bounce, complaint, unrecognised_notice …")
    why: str = ""
    reason: str | None = Field(
        default=None,
        description="A bounce's or delay's reason (outbound.mail.reasons), a complaint's type.",
    )
    message_id: str | None = None
    sender: str | None = None
    subject: str = ""
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    matched_by: str | None = Field(default=None, description="thread / verp / sender")
    action: str = Field(default="recorded", description="What it led to, in words.")
    snippet: str = ""
    raw: bytes | None = Field(
        default=None,
        sa_column=Column(LargeBinary, nullable=True),
        description="The message as received (up to 1 MiB), kept for notices the classifier "
        "could not read and for unreadable bytes, for a person to look at.",
    )
    received_at: datetime = _when(default_factory=utc_now)


class ProspectPhone(SQLModel, table=True):
    """One of a prospect's phone numbers, in relevance order (``position``), in E.164.

    Not unique in the workspace, unlike addresses: a switchboard or a shared
    line may be listed for several people.
    """

    __tablename__ = "prospect_phone"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    prospect_id: int = Field(foreign_key="prospect.id", index=True)
    position: int = Field(description="1-based relevance order.")
    number: str = Field(description="E.164, e.g. +14155550123.")
    type: str = Field(description="A PhoneType: mobile / work / other.")


class SmsSender(SQLModel, table=True):
    """A number (or a provider's messaging service) that SMS steps are sent from.

    Like a mailbox: its daily limit, its rate and its send days and hours are
    shared by every campaign that uses it (``outbound.store.slots``), and a
    provider that refuses its credentials parks it (``connection_state``).
    Exactly one of ``from_number`` and ``messaging_service_sid`` is set.
    """

    __tablename__ = "sms_sender"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str
    provider: str = Field(default="twilio", description="An SmsProvider.")
    account_sid: str
    auth_token_encrypted: str = Field(repr=False, description="Encrypted (store.encryption).")
    from_number: str | None = Field(default=None, description="E.164, e.g. +14155550100.")
    messaging_service_sid: str | None = Field(
        default=None, description="The provider's messaging service (picks the number itself)."
    )
    time_zone: str = "UTC"
    daily_limit: int = 200
    per_second: float = Field(
        default=1.0, description="Most messages per second: two sends are 1/per_second s apart."
    )
    send_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], sa_column=Column(JSON))
    send_start: str = "09:00"
    send_end: str = "17:00"
    reservation_version: int = Field(
        default=0, description="Bumped by every slot reservation: serialises them per sender."
    )
    throttled_until: datetime | None = _when(
        default=None, description="The provider's rate limit: no send before this time."
    )
    connection_state: str = Field(default="connected", description="connected / needs_reauth")
    connection_problem: str | None = Field(
        default=None, description="Why the provider refused the credentials (its answer)."
    )
    help_text: str = Field(
        default="Reply STOP to opt out.", description="What a HELP keyword is answered with."
    )
    created_at: datetime = _when(default_factory=utc_now)


class SmsSenderGrant(SQLModel, table=True):
    """A member allowed to send through a workspace's SMS sender."""

    __tablename__ = "sms_sender_grant"
    __table_args__ = (UniqueConstraint("sender_id", "user_id", name="uq_smssendergrant_user"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    sender_id: int = Field(foreign_key="sms_sender.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    granted_at: datetime = _when(default_factory=utc_now)


class SmsSlotReservation(SQLModel, table=True):
    """A send slot of an SMS sender, held for one (enrollment, step) attempt.

    The same book as :class:`SlotReservation`, kept per sender: ``key`` makes
    reservation idempotent, released slots no longer count.
    """

    __tablename__ = "sms_slot"
    __table_args__ = (
        UniqueConstraint("key", name="uq_sms_slot_key"),
        Index("ix_sms_slot_sender_time", "sender_id", "slot_at"),
        # Only held and used slots count: a partial index keeps the per-day count cheap.
        Index(
            "ix_sms_slot_active_day",
            "sender_id",
            "slot_day",
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    sender_id: int = Field(foreign_key="sms_sender.id")
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    position: int
    slot_at: datetime = _when()
    slot_day: date = Field(description="Sender-local calendar day of the slot (daily limit).")
    reserved_at: datetime = _when(default_factory=utc_now)
    released_at: datetime | None = _when(default=None)


class WebhookSubscription(SQLModel, table=True):
    """A URL of a workspace's own systems that is sent the events it subscribed to."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    url: str
    description: str = ""
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret_encrypted: str = Field(repr=False, description="Signing secret, encrypted.")
    enabled: bool = True
    disabled_reason: str | None = Field(
        default=None, description="Why deliveries stopped (kept failing); None while enabled."
    )
    disabled_at: datetime | None = _when(default=None)
    created_at: datetime = _when(default_factory=utc_now)


class WebhookEvent(SQLModel, table=True):
    """One event, stored once (``dedup_key``: a retried activity emits the same row)."""

    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("workspace_id", "dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    event_id: str = Field(unique=True, description="The stable id receivers see (webhook-id).")
    dedup_key: str
    type: str
    ordering_key: str = Field(description="Events of one key are delivered in order.")
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when(default_factory=utc_now)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: the delivery log's row."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_row_id"),
        Index("ix_webhook_delivery_undispatched", "dispatched_at", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    event_row_id: int = Field(foreign_key="webhook_event.id")
    ordering_key: str
    status: str = Field(default="pending", description="pending / delivered / failed")
    attempts: int = 0
    status_code: int | None = Field(default=None, description="The last attempt's HTTP status.")
    error: str | None = Field(default=None, description="The last attempt's failure, if any.")
    last_attempt_at: datetime | None = _when(default=None)
    delivered_at: datetime | None = _when(default=None)
    dispatched_at: datetime | None = _when(
        default=None, description="Handed to its delivery workflow (None: not yet)."
    )
    created_at: datetime = _when(default_factory=utc_now)
