"""Request and answer shapes of actions on prospects of a campaign, one or many at once."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from outbound.domain.problems import FieldProblem, Problem
from outbound.domain.statuses import ProspectStatus


class ProspectAction(StrEnum):
    """What a user can do to a prospect in a campaign (PRODUCT.md rule 10)."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    MARK_FINISHED = "mark_finished"
    REMOVE = "remove"
    SKIP_STEP = "skip_step"
    RETRY = "retry"
    ADD_TO_CAMPAIGN = "add_to_campaign"


class AddToCampaign(BaseModel):
    """Add a prospect to another campaign (or move it there)."""

    campaign_id: int = Field(description="The campaign to add the prospect to.")
    move: bool = Field(default=False, description="Also remove the prospect from this campaign.")
    allow_other_active: bool = Field(
        default=False,
        description="Add even if the prospect is active in a campaign other than this one.",
    )
    allow_recontact: bool = Field(
        default=False,
        description=(
            "Add even if the prospect's last sequence ended Replied, Bounced or OptedOut."
        ),
    )
    ignore_cooldown: bool = Field(
        default=False,
        description="Add even if a sequence to the prospect ended within the workspace's "
        "re-contact cooldown.",
    )


class BulkRetry(BaseModel):
    """Retry the Failed step of the listed prospects, or of every Failed prospect."""

    prospect_ids: Annotated[list[int], Field(max_length=100_000)] | None = Field(
        default=None, description="Omit to retry every Failed prospect of the campaign."
    )
    bypass_validation: bool = Field(
        default=False, description="Send even to addresses the address check refused."
    )


class BulkAction(BaseModel):
    """One action on the listed prospects, or on every prospect with a status."""

    action: ProspectAction
    prospect_ids: Annotated[list[int], Field(min_length=1, max_length=100_000)] | None = None
    status: ProspectStatus | None = Field(
        default=None, description="Act on every prospect of the campaign with this status."
    )
    bypass_validation: bool = Field(default=False, description="For retry.")
    target: AddToCampaign | None = Field(default=None, description="For add_to_campaign.")

    @model_validator(mode="after")
    def _one_selection(self) -> BulkAction:
        if (self.prospect_ids is None) == (self.status is None):
            raise FieldProblem(
                "prospect_ids", "give either prospect_ids or status (which prospects to act on)"
            )
        if (self.action is ProspectAction.ADD_TO_CAMPAIGN) != (self.target is not None):
            raise FieldProblem(
                "target", "target (the other campaign) goes with action add_to_campaign only"
            )
        return self


class BulkResult(BaseModel):
    """Which prospects the action reached, and why the others were refused."""

    done: list[int]
    refused: list[Problem]
