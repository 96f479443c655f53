"""Campaign metrics as the API shows them (definitions: ``outbound.tracking.metrics``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Counts(BaseModel):
    """Prospects who did each thing, and the share of all prospects in the campaign."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    opted_out: int = 0
    complained: int = 0
    rates: dict[str, float] = Field(
        default_factory=dict, description="Each count ÷ prospects in the campaign (0–1)."
    )


class StepMetrics(Counts):
    """One email step: prospects who did each thing at this step."""

    position: int


class CampaignMetrics(BaseModel):
    """Per step and for the campaign (prospects who did it at any step)."""

    campaign_id: int
    prospects: int = Field(description="Prospects in the campaign (removed ones excluded).")
    campaign: Counts
    steps: list[StepMetrics]


class Engagement(BaseModel):
    """What one prospect did with the campaign's messages (the hover card)."""

    opens: int = 0
    first_opened_at: datetime | None = None
    last_opened_at: datetime | None = None
    clicks: int = 0
    last_clicked_at: datetime | None = None
    replied_at: datetime | None = None
    opted_out_at: datetime | None = None
    complained_at: datetime | None = Field(
        default=None, description="When the first complaint (spam report) about us arrived."
    )


class MailboxInboundMetrics(BaseModel):
    """What recipients' providers told one mailbox, across its campaigns."""

    mailbox_id: int
    sent: int = Field(description="Messages the mailbox sent.")
    complaints: int = Field(description="Messages reported as spam (ARF, feedback loops).")
    sender_side_bounces: int = Field(
        description="Bounce reports blaming our sending: authentication, sender address, "
        "blocklists, reputation, rate."
    )
    complaint_rate: float = Field(description="complaints ÷ sent (providers want < 0.001).")
