"""The inbox sync workflow keeps its IMAP position across polls and continue-as-new."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound.domain.inbound import InboxPoll, InboxPollResult, InboxSyncInput
from outbound.workflows.inbox_sync import PAGE, POLLS_PER_RUN, InboxSyncWorkflow


@dataclass
class FakeInbox:
    """Messages arrive one per poll; after ``until`` polls the mailbox's IMAP is switched off."""

    until: int
    polls: list[InboxPoll] = field(default_factory=list)
    asked_at: list[datetime] = field(default_factory=list)
    burst: int = 0

    @activity.defn(name="poll_inbox")
    async def poll_inbox(self, poll: InboxPoll) -> InboxPollResult:
        self.polls.append(poll)
        self.asked_at.append(activity.info().scheduled_time)
        if len(self.polls) > self.until:
            return InboxPollResult(enabled=False)
        if poll.uidvalidity is None:  # first poll: from the current end
            return InboxPollResult(enabled=True, uidvalidity=7, last_uid=100, handled=0)
        handled = PAGE if len(self.polls) <= self.burst else 1
        return InboxPollResult(
            enabled=True, uidvalidity=7, last_uid=poll.last_uid + handled, handled=handled
        )


async def run_sync(env: WorkflowEnvironment, inbox: FakeInbox) -> InboxSyncInput:
    task_queue = f"inbox-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[InboxSyncWorkflow],
        activities=[inbox.poll_inbox],
        workflow_failure_exception_types=[Exception],
    ):
        return await env.client.execute_workflow(
            InboxSyncWorkflow.run,
            InboxSyncInput(mailbox_id=4),
            id=f"mailbox-4-inbox-{uuid.uuid4()}",
            task_queue=task_queue,
        )


async def test_the_position_carries_across_polls_and_continue_as_new(
    time_skipping: WorkflowEnvironment,
) -> None:
    inbox = FakeInbox(until=POLLS_PER_RUN + 20)
    final = await run_sync(time_skipping, inbox)

    uids = [p.last_uid for p in inbox.polls[1:]]
    assert uids == list(range(100, 100 + len(uids)))  # every message read once, in order
    assert final.processed == len(inbox.polls) - 2  # minus the first and the last poll
    assert {p.uidvalidity for p in inbox.polls[1:]} == {7}


async def test_a_full_page_is_followed_at_once_else_a_minute_later(
    time_skipping: WorkflowEnvironment,
) -> None:
    inbox = FakeInbox(until=6, burst=3)
    await run_sync(time_skipping, inbox)

    gaps = [later - earlier for earlier, later in pairwise(inbox.asked_at)]
    # Polls 2 and 3 bring full pages: the next follows at once; the others wait a minute.
    at_once = [gap < timedelta(seconds=5) for gap in gaps]
    assert at_once == [False, True, True, False, False, False]
    assert all(
        gap >= timedelta(minutes=1) for gap, now in zip(gaps, at_once, strict=True) if not now
    )
