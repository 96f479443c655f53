"""Sending mailboxes: create, list, show, reconnect. The password is write-only."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound.api.deps import ConnectionChecksDep, SessionDep, TemporalDep
from outbound.domain.mailboxes import (
    MailboxCreate,
    MailboxPublic,
    MailboxReconnect,
    ReconnectResult,
)
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.schedule import Weekday
from outbound.domain.statuses import MailboxConnection
from outbound.mail.hosts import HostRefused
from outbound.mail.outcomes import Outcome
from outbound.mail.smtp import SendFailed, check_login
from outbound.store.mailboxes import reconnect, running_workflow_ids, smtp_account
from outbound.store.tables import Mailbox

_SIGNAL_CONCURRENCY = 32

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])

_DAY_NAMES = [day.value for day in Weekday]


def mailbox_public(mailbox: Mailbox) -> MailboxPublic:
    """The API shape: ``has_password`` instead of the password."""
    assert mailbox.id is not None
    return MailboxPublic(
        id=mailbox.id,
        smtp_host=mailbox.smtp_host,
        smtp_port=mailbox.smtp_port,
        tls_mode=mailbox.tls_mode,
        username=mailbox.username,
        from_name=mailbox.from_name,
        from_address=mailbox.from_address,
        time_zone=mailbox.time_zone,
        daily_limit=mailbox.daily_limit,
        min_gap_seconds=mailbox.min_gap_seconds,
        send_days=[Weekday(_DAY_NAMES[d]) for d in mailbox.send_days],
        send_start=mailbox.send_start,
        send_end=mailbox.send_end,
        plus_addressing=mailbox.plus_addressing,
        has_password=bool(mailbox.smtp_password),
        connection_state=MailboxConnection(mailbox.connection_state),
        connection_problem=mailbox.connection_problem,
        throttled_until=mailbox.throttled_until,
        created_at=mailbox.created_at,
    )


@router.post("", status_code=201)
def create_mailbox(
    body: MailboxCreate, session: SessionDep, checks: ConnectionChecksDep
) -> MailboxPublic:
    """Connect a mailbox that campaigns send through.

    A port that is not a mail port, or an IP address that is not public, is refused
    here (unless the deployment allows them); host names are checked at each connection.
    """
    checks.refuse_settings(body.smtp_host, body.smtp_port, "smtp_host", "smtp_port")
    mailbox = Mailbox(
        **body.model_dump(exclude={"password", "send_days"}),
        send_days=[day.number for day in body.send_days],
        smtp_password=body.password.get_secret_value() if body.password else None,
    )
    session.add(mailbox)
    session.commit()
    session.refresh(mailbox)
    return mailbox_public(mailbox)


@router.get("")
def list_mailboxes(session: SessionDep) -> list[MailboxPublic]:
    """All mailboxes."""
    return [mailbox_public(m) for m in session.exec(select(Mailbox).order_by(col(Mailbox.id)))]


@router.get("/{mailbox_id}")
def get_mailbox(mailbox_id: int, session: SessionDep) -> MailboxPublic:
    """One mailbox."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise not_found("mailbox", mailbox_id)
    return mailbox_public(mailbox)


@router.post("/{mailbox_id}/reconnect")
async def reconnect_mailbox(
    mailbox_id: int,
    body: MailboxReconnect,
    request: Request,
    temporal: TemporalDep,
    checks: ConnectionChecksDep,
) -> ReconnectResult:
    """Log in with the given (or stored) credentials; if the server accepts, store them,
    mark the mailbox connected, and let every sequence waiting on it go on.

    A refused login is a 422 with a fixed reason ("login refused", "could not
    connect", "TLS failed", "timed out"; details in the server's log), and nothing is
    changed. Checks are rate-limited per mailbox (429).
    """
    engine: Engine = request.app.state.engine

    def load() -> Mailbox:
        with Session(engine) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                raise not_found("mailbox", mailbox_id)
            return mailbox

    mailbox = await asyncio.to_thread(load)
    password = body.password.get_secret_value() if body.password else None
    checks.take(f"mailbox:{mailbox_id}")
    account = smtp_account(mailbox, body.username, password, hosts=checks.hosts)
    try:
        await check_login(account)
    except HostRefused as refused:
        raise ProblemError(422, [Problem(field="smtp_host", reason=str(refused))]) from None
    except SendFailed as failed:
        refused_login = failed.classified.outcome is Outcome.AUTH_FAILED
        raise ProblemError(
            422,
            [
                Problem(
                    field="password" if refused_login else "smtp_host",
                    reason=f"the SMTP server: {failed.classified.reason}",
                )
            ],
        ) from None

    def store() -> tuple[MailboxPublic, int, list[str]]:
        with Session(engine) as session:
            row = session.get_one(Mailbox, mailbox_id)
            version = reconnect(session, row, body.username, password)
            return mailbox_public(row), version, running_workflow_ids(session, mailbox_id)

    public, version, workflow_ids = await asyncio.to_thread(store)
    resumed = await _tell_reconnected(temporal, workflow_ids, version)
    return ReconnectResult(mailbox=public, sequences_resumed=resumed)


async def _tell_reconnected(temporal: Client, workflow_ids: list[str], version: int) -> int:
    """Signal each running sequence of the mailbox; ones that ended meanwhile are skipped."""
    semaphore = asyncio.Semaphore(_SIGNAL_CONCURRENCY)

    async def tell(workflow_id: str) -> bool:
        async with semaphore:
            try:
                await temporal.get_workflow_handle(workflow_id).signal(
                    "mailbox_reconnected", version
                )
            except RPCError as error:
                if error.status is RPCStatusCode.NOT_FOUND:
                    return False
                raise
            return True

    return sum(await asyncio.gather(*(tell(w) for w in workflow_ids)))
