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


class SmsCounts(BaseModel):
    """Prospects whose texts did each thing, and the share of all prospects in the campaign
    (definitions: ``outbound.tracking.sms_metrics``)."""

    sent: int = 0
    delivered: int = Field(default=0, description="Delivered or AssumedDelivered.")
    failed: int = 0
    opted_out: int = 0
    replied: int = 0
    rates: dict[str, float] = Field(
        default_factory=dict, description="Each count ÷ prospects in the campaign (0–1)."
    )


class SmsStepMetrics(SmsCounts):
    """One sms step: prospects whose text of this step did each thing."""

    position: int


class CampaignMetrics(BaseModel):
    """Per step and for the campaign (prospects who did it at any step): email figures in
    ``campaign`` and ``steps``, texts in ``sms`` and ``sms_steps``."""

    campaign_id: int
    prospects: int = Field(description="Prospects in the campaign (removed ones excluded).")
    campaign: Counts
    steps: list[StepMetrics]
    sms: SmsCounts = Field(default_factory=SmsCounts)
    sms_steps: list[SmsStepMetrics] = Field(default_factory=list)


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
