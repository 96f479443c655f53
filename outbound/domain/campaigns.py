"""Request and response shapes of campaigns and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator

from outbound.domain.statuses import CampaignStatus, ThreadMode
from outbound.domain.validators import single_line

SubjectTemplate = Annotated[str, Field(min_length=1, max_length=998), AfterValidator(single_line)]


class StepCreate(BaseModel):
    """One email step: templates plus how long to wait after the previous step."""

    subject: SubjectTemplate
    body: Annotated[str, Field(min_length=1)]
    delay_days: Annotated[int, Field(ge=0, le=365)] = 0
    delay_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 365)] = 0
    thread_mode: ThreadMode = ThreadMode.NEW_THREAD


class CampaignCreate(BaseModel):
    """A new campaign with its ordered steps."""

    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]
    owner: Annotated[str, Field(min_length=1, max_length=200)] = "me"
    mailbox_id: int
    steps: Annotated[list[StepCreate], Field(min_length=1, max_length=50)]
    grace_seconds: Annotated[int | None, Field(ge=0, le=7 * 24 * 3600)] = Field(
        default=None,
        description="Wait after Start before the first send (default 20 minutes).",
    )

    @field_validator("steps")
    @classmethod
    def _first_step_starts_a_thread(cls, steps: list[StepCreate]) -> list[StepCreate]:
        if steps and steps[0].thread_mode is ThreadMode.SAME_THREAD:
            raise ValueError("the first step has no thread to reply in; use new_thread")
        return steps


class StepPublic(StepCreate):
    """A stored step."""

    id: int
    position: int


class CampaignPublic(BaseModel):
    """A campaign as the API shows it."""

    id: int
    name: str
    owner: str
    mailbox_id: int
    status: CampaignStatus
    grace_seconds: int
    steps: list[StepPublic]
    created_at: datetime
    started_at: datetime | None
    consent_accepted_by: str | None


class ConsentAttestation(BaseModel):
    """The run disclaimer (seed 004): every statement must be accepted to start."""

    recipients_consented: bool
    lawful_content: bool
    opt_out_included: bool
    opted_out_excluded: bool
    accepted_by: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]

    @field_validator(
        "recipients_consented", "lawful_content", "opt_out_included", "opted_out_excluded"
    )
    @classmethod
    def _must_accept(cls, accepted: bool) -> bool:
        if not accepted:
            raise ValueError("must be accepted (true) to start the campaign")
        return accepted


class StartCampaign(BaseModel):
    """Body of POST /campaigns/{id}/start."""

    consent: ConsentAttestation
