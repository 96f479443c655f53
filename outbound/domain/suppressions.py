"""Request and response models of the suppression list API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from outbound.domain.validators import EmailAddress, SingleLine

Reason = Annotated[SingleLine, Field(min_length=1, max_length=500)]


class SuppressionCreate(BaseModel):
    """Add an address by hand (e.g. someone asked by phone not to be contacted)."""

    address: EmailAddress
    reason: Reason


class SuppressionRemove(BaseModel):
    """Take an address off the list; the reason is kept with the entry."""

    address: EmailAddress
    reason: Reason


class SuppressionPublic(BaseModel):
    """One listed spelling of an address, why and since when."""

    address: str
    source: str = Field(description="hard_bounce / unsubscribe / manual")
    detail: str
    created_at: datetime


class SuppressionPage(BaseModel):
    """One page of the workspace's suppression list, newest first."""

    total: int
    items: list[SuppressionPublic]
