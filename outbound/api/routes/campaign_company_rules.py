"""A campaign's company rules: what a colleague's reply, bounce or opt-out does, and one
prospect per company at a time (docs/company-rules.md)."""

from __future__ import annotations

from fastapi import APIRouter

from outbound.api.deps import SessionDep
from outbound.campaigns.views import campaign_public
from outbound.domain.campaigns import CampaignPublic
from outbound.domain.company_rules import CompanyRules, stored_rule
from outbound.domain.problems import not_found
from outbound.store.tables import Campaign

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.put("/{campaign_id}/company-rules")
def put_company_rules(campaign_id: int, body: CompanyRules, session: SessionDep) -> CampaignPublic:
    """Set the company rule (off / stop / pause) and one-per-company; endings recorded from
    now on follow the rule, and sequences started from now on the one-per-company option."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    campaign.company_rule = stored_rule(body.company_rule)
    campaign.one_per_company = body.one_per_company
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign_public(session, campaign)
