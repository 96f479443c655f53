"""Inbound mail settings: inbox sync over IMAP, and the secret of the inbound webhook.

The webhook itself, where providers post raw messages, is a public route
(``routes/inbound_webhook.py``): it carries the secret made here as its proof.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.service import RPCError, RPCStatusCode

from outbound.api.auth import ADMIN_ONLY
from outbound.api.deps import (
    ConnectionChecksDep,
    KeyringDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from outbound.api.routes.inbound_webhook import secret_digest
from outbound.domain.inbound import InboxSyncInput
from outbound.domain.mailboxes import ImapSettings, InboundSecret, InboxSyncStatus
from outbound.domain.metrics import MailboxInboundMetrics
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.inbound.inbox_sync_start import start_inbox_sync
from outbound.mail.check_rate import rate_key
from outbound.mail.hosts import HostRefused
from outbound.mail.imap import (
    ImapAccount,
    ImapFolderMissing,
    ImapLoginFailed,
    ImapUnavailable,
    check_imap_login,
)
from outbound.store.tables import InboundEvent, Mailbox
from outbound.tracking.metrics import mailbox_inbound_metrics
from outbound.workflows.inbox_sync import inbox_workflow_id

router = APIRouter(tags=["inbound mail"])


@router.post("/mailboxes/{mailbox_id}/inbound-secret", status_code=201, dependencies=[ADMIN_ONLY])
def make_inbound_secret(mailbox_id: int, request: Request) -> InboundSecret:
    """Make (or replace) the webhook's secret; it is shown this once."""
    engine: Engine = request.app.state.engine
    secret = secrets.token_urlsafe(32)
    with Session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            raise not_found("mailbox", mailbox_id)
        mailbox.inbound_secret_hash = secret_digest(secret)
        session.add(mailbox)
        session.commit()
    return InboundSecret(
        mailbox_id=mailbox_id, secret=secret, webhook_path=f"/inbound/{mailbox_id}"
    )


@router.put("/mailboxes/{mailbox_id}/imap", dependencies=[ADMIN_ONLY])
async def set_imap(
    mailbox_id: int,
    body: ImapSettings,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    checks: ConnectionChecksDep,
) -> InboxSyncStatus:
    """Read this mailbox's inbox for replies and bounces (inbox sync starts at once, with
    mail arriving from now on). A login the server refuses is a 422 with a fixed reason
    and stores nothing; checks are rate-limited per workspace (429)."""
    engine: Engine = request.app.state.engine
    workspace_id = await asyncio.to_thread(_workspace_of, engine, mailbox_id)
    checks.refuse_settings(body.host, body.port, "host", "port")
    checks.take(rate_key(workspace_id))
    account = ImapAccount(
        host=body.host,
        port=body.port,
        tls=body.tls,
        username=body.username,
        password=body.password.get_secret_value(),
        folder=body.folder,
        hosts=checks.hosts,
    )
    try:
        await check_imap_login(account)
    except HostRefused as refused:
        raise ProblemError(422, [Problem(field="host", reason=str(refused))]) from None
    except ImapLoginFailed as refused:
        reason = f"the IMAP server: {refused}"
        raise ProblemError(422, [Problem(field="password", reason=reason)]) from None
    except ImapUnavailable as unreachable:
        reason = f"the IMAP server: {unreachable}"
        raise ProblemError(422, [Problem(field="host", reason=reason)]) from None
    except ImapFolderMissing:
        reason = "the folder cannot be opened"
        raise ProblemError(422, [Problem(field="folder", reason=reason)]) from None

    def store() -> None:
        with Session(engine) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                raise not_found("mailbox", mailbox_id)
            mailbox.imap_host, mailbox.imap_port, mailbox.imap_tls = body.host, body.port, body.tls
            mailbox.imap_username, mailbox.imap_folder = body.username, body.folder
            mailbox.imap_password_encrypted = keyring.encrypt(body.password.get_secret_value())
            session.add(mailbox)
            session.commit()

    await asyncio.to_thread(store)
    workflow_id = await start_inbox_sync(temporal, settings, workspace_id, mailbox_id)
    return InboxSyncStatus(
        mailbox_id=mailbox_id,
        host=body.host,
        port=body.port,
        folder=body.folder,
        workflow_id=workflow_id,
    )


@router.post("/mailboxes/{mailbox_id}/imap/poll", status_code=202, dependencies=[ADMIN_ONLY])
async def poll_inbox_now(
    mailbox_id: int, request: Request, temporal: TemporalDep
) -> InboxSyncInput:
    """Read the inbox now rather than at the next minute; answers where sync stood."""
    await asyncio.to_thread(_workspace_of, request.app.state.engine, mailbox_id)
    handle = temporal.get_workflow_handle(inbox_workflow_id(mailbox_id))
    try:
        await handle.signal("poll_now")
        return await handle.query("position", result_type=InboxSyncInput)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ProblemError(
                409, [Problem(field="mailbox_id", reason="inbox sync is not set up (PUT …/imap)")]
            ) from None
        raise


@router.get(
    "/mailboxes/{mailbox_id}/inbound-events/{event_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
def inbound_event_raw(mailbox_id: int, event_id: int, session: SessionDep) -> Response:
    """The bytes of a message the classifier could not read (an unrecognised notice, or
    unreadable bytes inbox sync met), as received, for a person to look at."""
    event = session.get(InboundEvent, event_id)
    if event is None or event.mailbox_id != mailbox_id or event.raw is None:
        raise not_found("inbound event with kept bytes", event_id)
    return Response(content=event.raw, media_type="message/rfc822")


@router.get("/mailboxes/{mailbox_id}/inbound-metrics")
def inbound_metrics(mailbox_id: int, session: SessionDep) -> MailboxInboundMetrics:
    """Complaints and sender-side bounces of the mailbox, over the messages it sent."""
    if session.get(Mailbox, mailbox_id) is None:
        raise not_found("mailbox", mailbox_id)
    return mailbox_inbound_metrics(session, mailbox_id)


def _workspace_of(engine: Engine, mailbox_id: int) -> int:
    """The mailbox's workspace (this request's); 404 for a mailbox it cannot see."""
    with Session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            raise not_found("mailbox", mailbox_id)
        return mailbox.workspace_id
