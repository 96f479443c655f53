"""Temporal payloads of the campaign fan-outs: start; stop, pause and resume."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class LaunchInput(BaseModel):
    """Where a campaign's fan-out stands; carried across continue-as-new."""

    campaign_id: int
    started_at: datetime = Field(description="The campaign's start: anchors every grace delay.")
    after_enrollment_id: int = Field(default=0, description="Enrollments up to this id are done.")
    started: int = 0
    already_running: int = 0
    batches: int = 0


class LaunchBatch(BaseModel):
    """Start the workflows of the next ``size`` unstarted enrollments after an id."""

    campaign_id: int
    started_at: datetime
    after_enrollment_id: int
    size: int = Field(gt=0)


class LaunchBatchResult(BaseModel):
    """What one batch did; ``last_enrollment_id`` is None when nothing was left."""

    last_enrollment_id: int | None
    started: int
    already_running: int


CampaignSignal = Literal["stop", "pause", "resume", "revise_steps"]
"""``revise_steps`` hands every workflow the campaign's current step plans (read per batch)."""


class SignalAllInput(BaseModel):
    """Where a campaign's signal fan-out (stop, pause, resume) stands; carried across
    continue-as-new."""

    campaign_id: int
    signal: CampaignSignal
    after_enrollment_id: int = 0
    signalled: int = 0


class SignalBatch(BaseModel):
    """Send ``signal`` to the workflows of the next ``size`` enrollments after an id."""

    campaign_id: int
    signal: CampaignSignal
    after_enrollment_id: int
    size: int = Field(gt=0)


class SignalBatchResult(BaseModel):
    last_enrollment_id: int | None
    signalled: int
