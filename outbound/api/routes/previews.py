"""Previews of a campaign's messages before (or while) it runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from outbound.api.deps import SessionDep
from outbound.campaigns.message_preview import message_preview
from outbound.domain.previews import MessagePreview

router = APIRouter(prefix="/campaigns/{campaign_id}", tags=["campaigns"])


@router.get("/message-preview")
def preview_messages(
    campaign_id: int,
    session: SessionDep,
    prospect_id: Annotated[
        int | None, Query(ge=1, description="One of the campaign's prospects; else samples.")
    ] = None,
) -> MessagePreview:
    """Every step rendered for one of the campaign's prospects (or with sample fields):
    an email's subject and body, a text's body with its characters, encoding (GSM-7 or
    UCS-2) and segments, a manual task's text."""
    return message_preview(session, campaign_id, prospect_id)
