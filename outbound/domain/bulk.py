"""Request and answer shapes of actions on many prospects of a campaign at once."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from outbound.domain.problems import Problem


class BulkRetry(BaseModel):
    """Retry the Failed step of the listed prospects, or of every Failed prospect."""

    prospect_ids: Annotated[list[int], Field(max_length=100_000)] | None = Field(
        default=None, description="Omit to retry every Failed prospect of the campaign."
    )
    bypass_validation: bool = Field(
        default=False, description="Send even to addresses the address check refused."
    )


class BulkResult(BaseModel):
    """Which prospects the action reached, and why the others were refused."""

    done: list[int]
    refused: list[Problem]
