"""A campaign's messages as one prospect (or sample fields) would get them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from outbound.domain.statuses import StepKind


class SmsShapeView(BaseModel):
    """How a rendered text travels: what carriers bill and what the phone shows."""

    characters: int
    encoding: Literal["GSM-7", "UCS-2"] = Field(
        description="GSM-7 unless a character outside the GSM alphabet makes it UCS-2."
    )
    segments: int = Field(description="Messages the text is split into (160 / 153 GSM-7 units).")


class StepPreview(BaseModel):
    """One step rendered; ``problem`` says why it could not be (a missing field, say)."""

    position: int
    kind: StepKind
    subject: str | None = None
    body: str | None = None
    task: str | None = None
    sms: SmsShapeView | None = Field(default=None, description="sms steps: the text's shape.")
    problem: str | None = None
    skipped: bool = False


class MessagePreview(BaseModel):
    """Every step of the campaign rendered for one prospect, or with sample fields."""

    campaign_id: int
    prospect_id: int | None = Field(description="None: sample fields (Ada Lovelace, …).")
    steps: list[StepPreview]
