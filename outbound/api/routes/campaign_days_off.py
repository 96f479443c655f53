"""A campaign's days off: its holiday calendar and blackout dates (in its window's zone)."""

from __future__ import annotations

from fastapi import APIRouter

from outbound.api.deps import SessionDep
from outbound.campaigns.views import campaign_public
from outbound.domain.campaigns import CampaignPublic
from outbound.domain.days_off import DaysOff
from outbound.domain.problems import not_found
from outbound.store.tables import Campaign

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.put("/{campaign_id}/days-off")
def put_campaign_days_off(campaign_id: int, body: DaysOff, session: SessionDep) -> CampaignPublic:
    """No slot of this campaign falls on these days (besides its mailboxes' own days off);
    slots reserved from now on follow them, also while it runs."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    campaign.holiday_calendar = body.holiday_calendar
    campaign.blackout_dates = [d.isoformat() for d in body.blackout_dates]
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign_public(session, campaign)
