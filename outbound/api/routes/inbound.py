"""Inbound mail: inbox sync settings, and the webhook where providers post raw messages.

``POST /inbound/{mailbox_id}`` with ``Authorization: Bearer <secret>`` (made by
``POST /mailboxes/{id}/inbound-secret``). A wrong or missing secret is a 401
and records nothing; bytes that are not a message are a 400 with the reason;
the same message posted twice (or also read by inbox sync) acts once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from outbound.api.deps import ConnectionChecksDep, SettingsDep, TemporalDep
from outbound.domain.inbound import InboxSyncInput
from outbound.domain.mailboxes import ImapSettings, InboundSecret, InboxSyncStatus
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.inbound.classify import MalformedMessage
from outbound.inbound.pipeline import InboundOutcome, handle_inbound
from outbound.mail.hosts import HostRefused
from outbound.mail.imap import (
    ImapAccount,
    ImapFolderMissing,
    ImapLoginFailed,
    ImapUnavailable,
    check_imap_login,
)
from outbound.store.tables import Mailbox
from outbound.workflows.inbox_sync import inbox_workflow_id

router = APIRouter(tags=["inbound mail"])

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # providers' own limit for one message


@router.post("/mailboxes/{mailbox_id}/inbound-secret", status_code=201)
def make_inbound_secret(mailbox_id: int, request: Request) -> InboundSecret:
    """Make (or replace) the webhook's secret; it is shown this once."""
    engine: Engine = request.app.state.engine
    secret = secrets.token_urlsafe(32)
    with Session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            raise not_found("mailbox", mailbox_id)
        mailbox.inbound_secret_hash = _digest(secret)
        session.add(mailbox)
        session.commit()
    return InboundSecret(
        mailbox_id=mailbox_id, secret=secret, webhook_path=f"/inbound/{mailbox_id}"
    )


@router.put("/mailboxes/{mailbox_id}/imap")
async def set_imap(
    mailbox_id: int,
    body: ImapSettings,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    checks: ConnectionChecksDep,
) -> InboxSyncStatus:
    """Read this mailbox's inbox for replies and bounces (inbox sync starts at once, with
    mail arriving from now on). A login the server refuses is a 422 with a fixed reason
    and stores nothing; checks are rate-limited per mailbox (429)."""
    engine: Engine = request.app.state.engine
    checks.refuse_settings(body.host, body.port, "host", "port")
    checks.take(f"mailbox:{mailbox_id}")
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
            mailbox.imap_password = body.password.get_secret_value()
            session.add(mailbox)
            session.commit()

    await asyncio.to_thread(store)
    workflow_id = inbox_workflow_id(mailbox_id)
    handle = await temporal.start_workflow(
        "InboxSync",
        InboxSyncInput(mailbox_id=mailbox_id),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await handle.signal("poll_now")
    return InboxSyncStatus(
        mailbox_id=mailbox_id,
        host=body.host,
        port=body.port,
        folder=body.folder,
        workflow_id=workflow_id,
    )


@router.post("/mailboxes/{mailbox_id}/imap/poll", status_code=202)
async def poll_inbox_now(mailbox_id: int, temporal: TemporalDep) -> InboxSyncInput:
    """Read the inbox now rather than at the next minute; answers where sync stood."""
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


@router.post("/inbound/{mailbox_id}", status_code=202)
async def receive_message(
    mailbox_id: int,
    request: Request,
    temporal: TemporalDep,
    authorization: Annotated[str | None, Header()] = None,
) -> InboundOutcome:
    """Process one raw RFC 822 message (the request body) for this mailbox."""
    engine: Engine = request.app.state.engine
    await asyncio.to_thread(_authenticate, engine, mailbox_id, authorization)
    raw = await request.body()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProblemError(413, [Problem(field="body", reason="message larger than 25 MB")])
    try:
        return await handle_inbound(
            engine, temporal, mailbox_id, raw, "webhook", request.app.state.signer
        )
    except MalformedMessage as malformed:
        raise ProblemError(
            400, [Problem(field="body", reason=f"not an RFC 822 message: {malformed}")]
        ) from None


def _authenticate(engine: Engine, mailbox_id: int, authorization: str | None) -> None:
    """401 unless the Bearer secret is this mailbox's (constant-time); an unknown mailbox
    answers the same, so the endpoint does not tell which mailboxes exist."""
    scheme, _, given = (authorization or "").partition(" ")
    with Session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        expected = mailbox.inbound_secret_hash if mailbox is not None else None
    if scheme.lower() != "bearer" or expected is None or not given:
        raise _unauthorised()
    if not hmac.compare_digest(_digest(given.strip()), expected):
        raise _unauthorised()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthorised() -> ProblemError:
    return ProblemError(
        401, [Problem(field="authorization", reason="missing or wrong inbound secret")]
    )
