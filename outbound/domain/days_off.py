"""Days without sends (a holiday calendar and blackout dates) and a mailbox's warm-up ramp,
as users set them (``PUT /mailboxes/{id}/warmup``, ``PUT /mailboxes/{id}/days-off``,
``PUT /campaigns/{id}/days-off``) and as the API shows them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outbound.scheduling.blackouts import UnknownCalendar, parse_calendar

MAX_BLACKOUT_DATES = 366


class DaysOffFields(BaseModel):
    """Whole days without a send: a holiday calendar's and extra dates."""

    holiday_calendar: Annotated[str, Field(min_length=2, max_length=12)] | None = Field(
        default=None,
        description='A country\'s public holidays, optionally a region\'s: "US", "US-CA", '
        '"DE-BY", "GB-SCT" (ISO 3166 codes, as the holidays library knows them).',
        examples=["DE-BY"],
    )
    blackout_dates: Annotated[list[date], Field(max_length=MAX_BLACKOUT_DATES)] = Field(
        default_factory=list,
        description=f"Extra days without sends (at most {MAX_BLACKOUT_DATES}), e.g. a company "
        "offsite.",
    )

    @field_validator("holiday_calendar")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            country, region = parse_calendar(value)
        except UnknownCalendar as unknown:
            raise ValueError(str(unknown)) from None
        return f"{country}-{region}" if region else country

    @field_validator("blackout_dates")
    @classmethod
    def _sorted_once(cls, days: list[date]) -> list[date]:
        return sorted(set(days))


class DaysOff(DaysOffFields):
    """The days off of a mailbox or a campaign (the body of ``PUT …/days-off``)."""

    model_config = ConfigDict(extra="forbid")


class WarmUpPlan(BaseModel):
    """A ramp: ``start`` messages on its first day, ``increment`` more each day, up to the
    mailbox's daily limit."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=1, le=10_000, description="The first day's limit.", examples=[10])
    increment: int = Field(ge=0, le=10_000, description="Added each day.", examples=[5])
    started_on: date | None = Field(
        default=None, description="The ramp's first day (default: today, mailbox-local)."
    )


class MailboxSendingPlan(DaysOff):
    """A mailbox's ramp and days off, with the limit they give today."""

    mailbox_id: int
    daily_limit: int = Field(description="The mailbox's full daily limit.")
    warmup: WarmUpPlan | None = Field(description="None: no ramp, the full limit every day.")
    limit_today: int = Field(description="Today's limit (mailbox-local day), ramp included.")
    full_limit_on: date | None = Field(
        description="The day the ramp reaches the full limit (None: no ramp, or it never does)."
    )
