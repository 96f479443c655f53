"""Inbox sync: one long-lived workflow per mailbox that reads new mail and acts on it.

Each poll is an activity that fetches the messages after the stored position
(UIDVALIDITY + last UID) over IMAP and runs each through the inbound pipeline
(replies stop sequences, bounces redirect them); the workflow keeps the new
position. A crash between the two re-reads a few messages, which the
pipeline's de-duplication drops. A full page polls again at once; otherwise
the workflow sleeps. Continue-as-new keeps the history short.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outbound.domain.inbound import InboxPoll, InboxPollResult, InboxSyncInput

POLL_EVERY = timedelta(minutes=1)
PAGE = 50
POLLS_PER_RUN = 200  # then continue-as-new
POLL_TIMEOUT = timedelta(minutes=5)
POLL_HEARTBEAT = timedelta(seconds=30)
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)
)


def inbox_workflow_id(mailbox_id: int) -> str:
    return f"mailbox-{mailbox_id}-inbox"


@workflow.defn(name="InboxSync")
class InboxSyncWorkflow:
    """Read a mailbox's inbox for as long as it has IMAP settings."""

    @workflow.init
    def __init__(self, request: InboxSyncInput) -> None:
        self._position = request
        self._poll_now = False

    @workflow.run
    async def run(self, request: InboxSyncInput) -> InboxSyncInput:
        for _ in range(POLLS_PER_RUN):
            result = await workflow.execute_activity(
                "poll_inbox",
                InboxPoll(
                    mailbox_id=request.mailbox_id,
                    uidvalidity=self._position.uidvalidity,
                    last_uid=self._position.last_uid,
                    limit=PAGE,
                ),
                result_type=InboxPollResult,
                start_to_close_timeout=POLL_TIMEOUT,
                heartbeat_timeout=POLL_HEARTBEAT,
                retry_policy=POLL_RETRY,
            )
            if not result.enabled:
                return self._position  # IMAP settings removed: sync ends
            self._position = self._position.model_copy(
                update={
                    "uidvalidity": result.uidvalidity,
                    "last_uid": result.last_uid,
                    "processed": self._position.processed + result.handled,
                }
            )
            if result.handled < PAGE:
                self._poll_now = False
                with contextlib.suppress(TimeoutError):  # a minute passed, or poll_now
                    await workflow.wait_condition(lambda: self._poll_now, timeout=POLL_EVERY)
        workflow.continue_as_new(self._position)

    @workflow.signal
    def poll_now(self) -> None:
        """Read the inbox at once (settings changed, or a user asked)."""
        self._poll_now = True

    @workflow.query
    def position(self) -> InboxSyncInput:
        return self._position
