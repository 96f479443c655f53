"""Start (or find running) a mailbox's inbox sync workflow and have it read at once."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from outbound.domain.inbound import InboxSyncInput
from outbound.domain.search_attributes import workflow_attributes
from outbound.settings import Settings
from outbound.workflows.inbox_sync import inbox_workflow_id


async def start_inbox_sync(
    temporal: Client, settings: Settings, workspace_id: int, mailbox_id: int
) -> str:
    """The inbox sync workflow's id; a running one is kept (and told to poll now)."""
    workflow_id = inbox_workflow_id(mailbox_id)
    handle = await temporal.start_workflow(
        "InboxSync",
        InboxSyncInput(mailbox_id=mailbox_id),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=workflow_attributes(workspace_id, mailbox_id=mailbox_id),
    )
    await handle.signal("poll_now")
    return workflow_id
