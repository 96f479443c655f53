"""A workspace's legal hours for texts: 08:00–21:00 in the recipient's local time, which
the workspace may narrow (09:00–20:00, say) but never widen."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from outbound.domain.problems import FieldProblem
from outbound.domain.schedule import ClockTime, parse_clock
from outbound.scheduling.quiet_hours import LEGAL_END, LEGAL_START

Clock = Annotated[ClockTime, Field(max_length=5, examples=["09:00"])]


class SmsQuietHours(BaseModel):
    """When texts may reach a recipient, in their local time, every day."""

    sms_quiet_start: Clock = Field(description="Not before 08:00.")
    sms_quiet_end: Clock = Field(description="Not after 21:00; after sms_quiet_start.")

    @model_validator(mode="after")
    def _only_narrower(self) -> SmsQuietHours:
        start, end = parse_clock(self.sms_quiet_start), parse_clock(self.sms_quiet_end)
        if start < LEGAL_START:
            raise FieldProblem(
                "sms_quiet_start", "texts may not go before 08:00; use 08:00 or later"
            )
        if end > LEGAL_END or self.sms_quiet_end == "24:00":
            raise FieldProblem(
                "sms_quiet_end", "texts may not go after 21:00; use 21:00 or earlier"
            )
        if start >= end:
            raise FieldProblem("sms_quiet_end", f"must be after sms_quiet_start ({start:%H:%M})")
        return self
