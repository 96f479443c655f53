"""Custom search attributes that let operators filter prospects in the Temporal UI.

The dev stack registers them with ``temporal server start-dev --search-attribute``,
tests through the operator service, production through docker-compose's setup job.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
MAILBOX_ID = SearchAttributeKey.for_keyword("MailboxId")
PROSPECT_STATUS = SearchAttributeKey.for_keyword("ProspectStatus")

ALL_KEYWORDS: tuple[SearchAttributeKey[str], ...] = (CAMPAIGN_ID, MAILBOX_ID, PROSPECT_STATUS)


def enrollment_workflow_id(campaign_id: int, prospect_id: int) -> str:
    """A workflow id a person can read, and the same for every start of that enrollment."""
    return f"campaign-{campaign_id}-prospect-{prospect_id}"
