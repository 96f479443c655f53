"""Read models the API answers with: campaign progress, a prospect's steps, the message log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from outbound.domain.campaigns import CampaignPublic
from outbound.domain.metrics import Engagement
from outbound.domain.prospects import PhonePublic
from outbound.domain.statuses import (
    CampaignStatus,
    InboundKind,
    MessageStatus,
    ProspectStatus,
    StepStatus,
)


class StepProgress(BaseModel):
    """One step of one prospect: e.g. Scheduled with its time, or Sent with its time."""

    position: int
    status: StepStatus
    scheduled_at: datetime | None = None
    sent_at: datetime | None = None
    reason: str | None = None


class EnrollmentSummary(BaseModel):
    """A prospect's row in the campaign view."""

    prospect_id: int
    name: str
    email: str | None
    status: ProspectStatus
    reason: str | None
    current_step: int
    workflow_id: str | None
    mailbox_id: int | None = Field(
        default=None,
        description="The mailbox their email goes from, given at their first slot (a pool "
        "campaign's choice) and kept for the whole sequence; None before it.",
    )
    steps: list[StepProgress]


class ChannelMessages(BaseModel):
    """A campaign's messages of one channel (email or sms), as seed 004's Run modal counts."""

    steps: int = Field(description="Steps of this channel that are not skipped.")
    planned: int = Field(
        description="Those steps × prospects whose sequence has not ended: before Start, "
        "the messages it will send."
    )
    logged: dict[MessageStatus, int] = Field(
        default_factory=dict, description="Messages in the log, by status."
    )


class CampaignDetail(BaseModel):
    """A campaign with its prospects' statuses (paged) and counts by status."""

    campaign: CampaignPublic
    counts: dict[ProspectStatus, int]
    total_prospects: int
    workflows_started: int = Field(
        description="Prospects whose sequence workflow exists (Start's progress)."
    )
    prospects: list[EnrollmentSummary]
    messages: dict[Literal["email", "sms"], ChannelMessages] = Field(
        default_factory=dict, description="Messages per channel (email, sms)."
    )


class MessageLogEntry(BaseModel):
    """One message as the log shows it."""

    channel: Literal["email", "sms"] = Field(
        default="email", description="sms: to_address is the number (E.164)."
    )
    position: int
    to_address: str
    subject: str
    status: MessageStatus
    message_id: str
    envelope_from: str | None
    scheduled_at: datetime | None
    sent_at: datetime | None
    attempts: int
    failure_reason: str | None


class InboundLogEntry(BaseModel):
    """One inbound message about this prospect's sequence, and what it did."""

    event_id: int
    received_at: datetime
    source: str = Field(description="imap / webhook")
    kind: InboundKind
    why: str = Field(description="What made the classifier decide.")
    reason: str | None = Field(default=None, description="A bounce's reason, a complaint's type.")
    action: str = Field(description="What it led to.")
    sender: str | None
    subject: str
    raw_kept: bool = Field(
        description="Its bytes are kept (a notice that could not be read): GET "
        "/mailboxes/{mailbox_id}/inbound-events/{event_id}/raw."
    )


class EnrollmentDetail(EnrollmentSummary):
    """One prospect in one campaign, with its message log."""

    campaign_id: int
    phones: list[PhonePublic] = Field(
        default_factory=list, description="The prospect's numbers in relevance order (E.164)."
    )
    replied_at: datetime | None
    reply_snippet: str | None = Field(default=None, description="The start of the reply.")
    engagement: Engagement = Field(description="Opens, clicks, reply and opt-out, with times.")
    messages: list[MessageLogEntry]
    inbound: list[InboundLogEntry] = Field(
        default_factory=list,
        description="Replies, bounces, complaints and notices about this sequence, oldest first.",
    )


class StartResult(BaseModel):
    """Answer to Start: how many sequences were started now and in all."""

    campaign_id: int
    to_start: int = Field(description="Sequences the start fan-out will start now.")
    already_running: int
    first_send_not_before: datetime
    launch_workflow_id: str = Field(
        description="The fan-out's workflow; the campaign's workflows_started shows progress."
    )


class AddProspectsResult(BaseModel):
    """Answer to adding prospects to a campaign."""

    campaign_id: int
    prospect_ids: list[int]
    enrolled: int
    already_enrolled: int


class StepForecast(BaseModel):
    """When one step would go out across the campaign."""

    position: int
    first_send: datetime
    last_send: datetime
    busiest_day_sends: int


class ProspectForecast(BaseModel):
    """When each step would go out for one prospect, and from which mailbox."""

    prospect_id: int
    sends: list[datetime]
    mailbox_id: int | None = Field(
        default=None, description="The mailbox of the campaign (or of its pool) they send from."
    )


class MailboxForecast(BaseModel):
    """One of the campaign's mailboxes in the forecast: its share of the prospects, its
    warm-up ramp and days off over the next 60 days."""

    mailbox_id: int
    prospects: int = Field(description="Prospects the forecast gives this mailbox.")
    daily_limit: int
    limits_by_day: dict[date, int] = Field(
        description="Days whose limit the warm-up ramp keeps below the daily limit."
    )
    days_off: list[date] = Field(description="The mailbox's holidays and blackout dates.")
    can_send: bool = Field(
        description="False: parked for re-authentication or paused; it gets no new prospects."
    )


class SchedulePreview(BaseModel):
    """The plan a Start now (or at ``start_at``) would follow, under current settings."""

    campaign_id: int
    start_at: datetime
    summary: str
    steps: list[StepForecast]
    total_prospects: int
    prospects: list[ProspectForecast]
    mailboxes: list[MailboxForecast] = Field(default_factory=list)
    days_off: list[date] = Field(
        default_factory=list,
        description="The campaign's holidays and blackout dates over the next 60 days.",
    )


class StopResult(BaseModel):
    """Answer to a campaign's Stop: how many prospects were halted, and the fan-out's id."""

    campaign_id: int
    prospects_stopped: int
    control_workflow_id: str = Field(description="Signals the prospects' workflows in batches.")


class ControlResult(BaseModel):
    """Answer to a campaign's Pause or Resume."""

    campaign_id: int
    status: CampaignStatus
    control_workflow_id: str = Field(description="Signals the prospects' workflows in batches.")


class TaskItem(BaseModel):
    """A manual task whose time has come: on its owner's to-do list until done or skipped."""

    campaign_id: int
    campaign_name: str
    owner: str
    prospect_id: int
    prospect_name: str
    email: str | None
    position: int
    task: str
    due_at: datetime | None = Field(description="When the task came due.")
