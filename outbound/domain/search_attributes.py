"""Custom search attributes that let operators filter prospects in the Temporal UI.

The dev stack registers them with ``temporal server start-dev --search-attribute``,
tests through the operator service, production through docker-compose's setup job.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

WORKSPACE_ID = SearchAttributeKey.for_keyword("WorkspaceId")
CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
MAILBOX_ID = SearchAttributeKey.for_keyword("MailboxId")
PROSPECT_STATUS = SearchAttributeKey.for_keyword("ProspectStatus")

ALL_KEYWORDS: tuple[SearchAttributeKey[str], ...] = (
    WORKSPACE_ID,
    CAMPAIGN_ID,
    MAILBOX_ID,
    PROSPECT_STATUS,
)


def workflow_attributes(
    workspace_id: int,
    *,
    campaign_id: int | None = None,
    mailbox_id: int | None = None,
    status: str | None = None,
) -> TypedSearchAttributes:
    """The search attributes a workflow starts with: always its workspace, so an operator
    can filter the Temporal UI by team (``WorkspaceId = "3"``)."""
    pairs = [SearchAttributePair(WORKSPACE_ID, str(workspace_id))]
    if campaign_id is not None:
        pairs.append(SearchAttributePair(CAMPAIGN_ID, str(campaign_id)))
    if mailbox_id is not None:
        pairs.append(SearchAttributePair(MAILBOX_ID, str(mailbox_id)))
    if status is not None:
        pairs.append(SearchAttributePair(PROSPECT_STATUS, status))
    return TypedSearchAttributes(pairs)


def enrollment_workflow_id(campaign_id: int, prospect_id: int) -> str:
    """A workflow id a person can read, and the same for every start of that enrollment."""
    return f"campaign-{campaign_id}-prospect-{prospect_id}"
