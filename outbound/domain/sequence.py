"""Payloads that cross the Temporal boundary (workflow input, activity I/O, query answers).

These are plain pydantic models, never SQLModel tables: table models skip
validation, and Temporal histories must hold nothing secret (no SMTP password),
since operators read them in the Temporal UI.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from outbound.domain.schedule import ScheduleSpec, WindowSpec
from outbound.domain.sms_sequence import SmsRecipient
from outbound.domain.statuses import (
    MessageStatus,
    ProspectStatus,
    StepKind,
    StepStatus,
    ThreadMode,
)

ENROLLMENT_WORKFLOW = "EnrollmentV6"
"""The workflow type new sequences start as (``outbound.workflows.enrollment``); "V6" follows
the five patched versions of type "Enrollment" whose recorded histories the replay test keeps."""


class StepPlan(BaseModel):
    """What the workflow needs to know of a step to schedule it; content is loaded at send."""

    step_id: int
    position: int
    delay: timedelta
    thread_mode: ThreadMode
    kind: StepKind = StepKind.EMAIL
    skipped: bool = Field(
        default=False, description="Skipped for everyone: nobody gets it from now on."
    )


class EnrollmentInput(BaseModel):
    """Start arguments of one prospect's sequence."""

    enrollment_id: int
    campaign_id: int
    prospect_id: int
    mailbox_id: int | None = Field(
        description="The mailbox of the email steps; None for a campaign of SMS and tasks only."
    )
    started_at: datetime = Field(description="When the user pressed Start (UTC).")
    grace: timedelta
    steps: list[StepPlan]
    to_address: str | None = Field(description="Address chosen at start; None means NoAddress.")
    fallback_addresses: list[str] = Field(
        default_factory=list, description="Addresses to try next, in order, after a bounce."
    )
    schedule: ScheduleSpec
    carried_state: EnrollmentState | None = Field(
        default=None, description="State handed on by continue-as-new."
    )
    sms: SmsRecipient | None = Field(
        default=None, description="Sender and number of the SMS steps; None without SMS steps."
    )
    one_per_company: bool = Field(
        default=False,
        description="Wait for the company's turn before the first step: no colleague "
        "enrolled earlier is still under way (``workflows.colleagues``).",
    )


class StepState(BaseModel):
    """Live status of one step, as the workflow knows it."""

    position: int
    due_at: datetime | None = Field(default=None, description="When-to-send time, before slots.")
    slot_key: str | None = Field(default=None, description="The slot reservation held, if any.")
    slot_address: str | None = Field(default=None, description="The address the slot is for.")
    reservations: int = Field(default=0, description="Slots reserved so far (names the next key).")
    status: StepStatus = StepStatus.PENDING
    scheduled_at: datetime | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    reason: str | None = None
    soft_bounces: int = Field(default=0, description="Mailbox-full answers so far (retried daily).")
    sms_slot_key: str | None = Field(
        default=None, description="The SMS sender's slot held by an SMS step, if any."
    )
    sms_status: MessageStatus | None = Field(
        default=None, description="An SMS step's message status (from its hand-over on)."
    )
    sms_status_at: datetime | None = Field(
        default=None, description="When the SMS's status last changed (workflow time)."
    )
    sms_handed_over_at: datetime | None = Field(
        default=None, description="When the SMS was handed to the provider (workflow time)."
    )


class EnrollmentState(BaseModel):
    """Everything the workflow knows; answered by the ``state`` query and mirrored to the DB."""

    enrollment_id: int
    status: ProspectStatus = ProspectStatus.NOT_STARTED
    reason: str | None = None
    current_step: int = 0
    to_address: str | None = None
    steps: list[StepState] = Field(default_factory=list)
    replied_at: datetime | None = None
    bounced_addresses: list[str] = Field(default_factory=list)
    invalid_addresses: list[str] = Field(
        default_factory=list, description="Refused by the address check (or suppressed)."
    )
    address_checks: dict[str, str] = Field(
        default_factory=dict, description="Address → what the check found (valid, role, …)."
    )
    override_address: str | None = Field(
        default=None, description="Per-campaign address the user chose; the profile is unchanged."
    )
    skip_address_check: bool = Field(
        default=False, description="A Retry asked to bypass address validation (Loxo)."
    )
    awaiting_retry: bool = Field(
        default=False, description="Failed, and a manual Retry can still resume the step."
    )
    mailbox_version: int = Field(
        default=0, description="Newest mailbox connection version this workflow has heard of."
    )
    parked_on_version: int | None = Field(
        default=None,
        description="Waiting for the mailbox to be reconnected past this connection version.",
    )
    reply_snippet: str | None = Field(default=None, description="The start of the reply.")
    inbound_keys: list[str] = Field(
        default_factory=list, description="Recent inbound events acted on (de-duplication)."
    )
    sms_opted_out: bool = Field(
        default=False, description="The prospect's number opted out: no SMS step goes."
    )
    sms_keys: list[str] = Field(
        default_factory=list, description="Recent SMS status and opt-out signals (de-duplication)."
    )
    out_of_office_until: datetime | None = Field(
        default=None,
        description="An auto-reply's return date holds the sequence until this instant "
        "(``workflows.out_of_office``); None when no out-of-office is pending.",
    )
    colleague_keys: list[str] = Field(
        default_factory=list,
        description="Colleagues' endings a company rule acted on (de-duplication).",
    )
    updated_at: datetime | None = None
    first_sent_at: datetime | None = None
    jitter_seed: float | None = None


class SendStepRequest(BaseModel):
    """Ask the send activity to deliver one step; idempotent per (enrollment, position)."""

    enrollment_id: int
    position: int
    to_address: str
    thread_mode: ThreadMode
    previous_message_ids: list[str] = Field(
        default_factory=list, description="Message-IDs of earlier steps, oldest first (threading)."
    )
    scheduled_at: datetime | None = Field(
        default=None, description="The reserved slot: the send is refused if far past it."
    )
    slot_key: str | None = None


class SendStepResult(BaseModel):
    """What the SMTP server accepted."""

    message_id: str
    subject: str
    sent_at: datetime
    already_sent: bool = Field(
        default=False, description="True when a retry found the message already sent."
    )


class SendFailure(BaseModel):
    """What a refused or failed send tells the workflow, beside its type (error details)."""

    mailbox_version: int | None = Field(
        default=None, description="Connection version of the mailbox the send used."
    )
    not_before: datetime | None = Field(
        default=None, description="Earliest time to try again (provider rate limits)."
    )
    ends_as: ProspectStatus | None = Field(
        default=None, description="The sequence must end so (stop or reply seen at the last look)."
    )


class FailureType:
    """Error types of the send activity beyond the SMTP outcomes (``mail.outcomes.Outcome``)."""

    SLOT_MISSED = "SlotMissed"
    MAILBOX_PARKED = "MailboxParked"  # needs re-authentication: not even tried
    THROTTLED = "rate_limited"  # the provider's limit is still in force: not even tried
    HALTED = "Halted"  # stopped or replied meanwhile: not sent
    SUPPRESSED = "Suppressed"  # the address is on the suppression list: not sent
    SUPERSEDED = "Superseded"  # a later attempt of the same send took it over: not sent
    TEMPLATE_TOO_EXPENSIVE = "TemplateTooExpensive"  # over its rendering budget: not sent
    TEMPLATE_REFUSED = "TemplateRefused"  # the template sandbox refused it: not sent
    # The SMS send activity (``activities.sms``) adds, beside HALTED, SUPERSEDED, the
    # template ones and SLOT_MISSED:
    SMS_OPTED_OUT = "SmsOptedOut"  # the number is suppressed or the provider said 21610
    SMS_REJECTED = "SmsRejected"  # the provider refused this message for good
    SMS_TRANSIENT = "SmsTransient"  # provider down or throttling: retried (3 attempts)
    SENDER_PARKED = "SenderParked"  # the provider refused the sender's credentials
    NO_LEGAL_HOURS = "NoLegalHours"  # the SMS slot: sender's and legal hours never meet


class RetryRequest(BaseModel):
    """A user's manual Retry of a Failed step."""

    bypass_validation: bool = Field(
        default=False, description="Send even to addresses the check found invalid (Loxo)."
    )


class AddressCheckRequest(BaseModel):
    """Check one address of an enrollment before its first send to it."""

    enrollment_id: int
    address: str


class AddressVerdict(BaseModel):
    """Whether an address may be sent to, and a note users see (role, unverified, …)."""

    address: str
    usable: bool
    note: str


class SkipRequest(BaseModel):
    """Skip a step of one prospect: the one in progress unless ``position`` names it."""

    position: int | None = Field(default=None, ge=1)


class InboundReply(BaseModel):
    """Signal payload: inbox sync or the webhook matched a reply to this sequence."""

    key: str = Field(description="De-duplication key of the inbound message.")
    received_at: datetime | None = None
    snippet: str = ""


class LateBounce(BaseModel):
    """Signal payload: a hard bounce arrived by mail for a message the server had accepted."""

    key: str = Field(description="De-duplication key of the inbound message.")
    message_id: str = Field(description="Message-ID of the bounced message (ours).")
    address: str = Field(description="The address it was sent to.")
    reason: str = Field(description="Status code and diagnostic, for the step's reason.")


class OutOfOffice(BaseModel):
    """Signal payload: an auto-reply states a return date; nothing goes before ``resume_on``."""

    key: str = Field(description="De-duplication key of the inbound message.")
    resume_on: date = Field(
        description="The day the sequence resumes, in the campaign window's zone: the day "
        "after the stated return date."
    )


class ManualReply(BaseModel):
    """Signal payload: the user (or, later, inbox sync) says the prospect replied."""

    received_at: datetime | None = None
    snippet: str = ""


EnrollmentInput.model_rebuild()


class ReserveSlotRequest(BaseModel):
    """Ask for the mailbox's earliest free slot at or after ``not_before``.

    ``key`` names this reservation attempt (enrollment, step, attempt number);
    asking again with the same key returns the same slot.
    """

    key: str
    enrollment_id: int
    position: int
    mailbox_id: int
    to_address: str
    not_before: datetime
    window: WindowSpec


class ReleaseSlotRequest(BaseModel):
    """Give a slot back (pause, stop, reply, cancel, missed slot)."""

    key: str
    enrollment_id: int
    position: int
    to_address: str
    message_status: MessageStatus | None = Field(
        default=None, description="New message-log status for the step, if it changes."
    )
