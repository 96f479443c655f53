"""One poll of a mailbox's inbox: fetch what arrived after the position and act on each message.

Idempotent by construction: the pipeline records each message once per
mailbox, so a poll retried after a crash (position not yet advanced) re-reads
a few messages and they change nothing twice. The IMAP password is read from
the store here and never passes through Temporal.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from outbound.activities.heartbeat import heartbeating
from outbound.domain.inbound import InboxPoll, InboxPollResult
from outbound.inbound.classify import MalformedMessage
from outbound.inbound.pipeline import handle_inbound, record_unreadable
from outbound.mail.hosts import HostPolicy, HostRefused
from outbound.mail.imap import ImapAccount, ImapLoginFailed, InboxPosition, fetch_new
from outbound.oauth.tokens import AccessTokens
from outbound.store.encryption import Keyring
from outbound.store.mailboxes import imap_account
from outbound.store.reputation import ReputationLimits
from outbound.store.tables import Mailbox
from outbound.tracking.tokens import LinkSigner

log = logging.getLogger(__name__)


class InboxActivities:
    def __init__(
        self,
        engine: Engine,
        client: Client,
        keyring: Keyring,
        tokens: AccessTokens,
        signer: LinkSigner | None = None,
        hosts: HostPolicy | None = None,
        reputation: ReputationLimits | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._keyring = keyring  # opens the stored IMAP password, loaded by mailbox id
        self._tokens = tokens  # OAuth mailboxes' access tokens
        self._signer = signer  # reads the tokens of unsubscribe mail (List-Unsubscribe mailto)
        self._hosts = hosts or HostPolicy()  # which IMAP servers may be connected to
        # the reputation guard's limits, which bounces and complaints are judged by
        self._reputation = reputation or ReputationLimits()

    @activity.defn(name="poll_inbox")
    async def poll_inbox(self, poll: InboxPoll) -> InboxPollResult:
        """Fetch up to ``poll.limit`` new messages and run each through the pipeline."""
        account = await asyncio.to_thread(self._account, poll.mailbox_id)
        if account is None:
            return InboxPollResult(enabled=False)
        position = (
            InboxPosition(uidvalidity=poll.uidvalidity, last_uid=poll.last_uid)
            if poll.uidvalidity is not None
            else None
        )
        async with heartbeating():
            try:
                batch = await fetch_new(account, position, limit=poll.limit)
            except (ImapLoginFailed, HostRefused) as refused:
                # Not worth retrying at once: it is retried every few minutes (POLL_RETRY)
                # until the user gives new settings, which signal the workflow.
                raise ApplicationError(str(refused), type="ImapLoginFailed") from None
            for fetched in batch.messages:
                try:
                    await handle_inbound(
                        self._engine,
                        self._client,
                        poll.mailbox_id,
                        fetched.raw,
                        "imap",
                        self._signer,
                        reputation=self._reputation,
                    )
                except MalformedMessage as malformed:
                    log.warning("mailbox %s uid %s: %s", poll.mailbox_id, fetched.uid, malformed)
                    await asyncio.to_thread(
                        record_unreadable,
                        self._engine,
                        poll.mailbox_id,
                        fetched.raw,
                        "imap",
                        f"not a message, or past a limit: {malformed}",
                    )
        return InboxPollResult(
            enabled=True,
            uidvalidity=batch.position.uidvalidity,
            last_uid=batch.position.last_uid,
            handled=len(batch.messages),
        )

    def _account(self, mailbox_id: int) -> ImapAccount | None:
        with Session(self._engine) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            return (
                imap_account(mailbox, self._keyring, hosts=self._hosts, tokens=self._tokens)
                if mailbox is not None
                else None
            )
