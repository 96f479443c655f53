"""Sending mailboxes: create, list, show, reconnect. The password is write-only.

The list leaves out the reputation guard's figures (a query each); one mailbox shows them.

Connecting and reconnecting a mailbox is an admin's job; a member sees (and
sends through) the mailboxes shared with them (``routes/mailbox_grants.py``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.api.auth import ADMIN_ONLY, CallerDep
from outbound.api.deps import (
    AccessTokensDep,
    ConnectionChecksDep,
    KeyringDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from outbound.domain.mailboxes import (
    MailboxCreate,
    MailboxPublic,
    MailboxReconnect,
    MailboxReputation,
    ReconnectResult,
)
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.schedule import Weekday
from outbound.domain.statuses import AuthMethod, MailboxConnection
from outbound.inbound.signals import signal_each
from outbound.mail.check_rate import rate_key
from outbound.mail.hosts import HostRefused
from outbound.mail.outcomes import Outcome
from outbound.mail.smtp import SendFailed, check_login
from outbound.store.mailboxes import (
    reconnect,
    reconnect_hint,
    sequences_to_resume,
    smtp_account,
)
from outbound.store.reputation import ReputationLimits, figures
from outbound.store.tables import Mailbox, MailboxGrant

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])

_DAY_NAMES = [day.value for day in Weekday]


def mailbox_public(mailbox: Mailbox, reputation: MailboxReputation | None = None) -> MailboxPublic:
    """The API shape: ``has_password`` instead of the password; ``reputation``: the guard's
    figures, where the route read them."""
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
        has_password=bool(mailbox.smtp_password_encrypted),
        auth_method=AuthMethod(mailbox.auth_method),
        oauth_provider=mailbox.oauth_provider,
        connection_state=MailboxConnection(mailbox.connection_state),
        connection_problem=mailbox.connection_problem,
        throttled_until=mailbox.throttled_until,
        paused_reason=mailbox.paused_reason,
        reputation=reputation,
        created_at=mailbox.created_at,
    )


@router.post("", status_code=201, dependencies=[ADMIN_ONLY])
def create_mailbox(
    body: MailboxCreate,
    session: SessionDep,
    keyring: KeyringDep,
    caller: CallerDep,
    checks: ConnectionChecksDep,
) -> MailboxPublic:
    """Connect a mailbox that campaigns send through (admins).

    A port that is not a mail port, or an IP address that is not public, is refused
    here (unless the deployment allows them); host names are checked at each connection.
    """
    checks.refuse_settings(body.smtp_host, body.smtp_port, "smtp_host", "smtp_port")
    mailbox = Mailbox(
        **body.model_dump(exclude={"password", "send_days"}),
        workspace_id=caller.workspace_id,
        send_days=[day.number for day in body.send_days],
        smtp_password_encrypted=keyring.encrypt_optional(
            body.password.get_secret_value() if body.password else None
        ),
    )
    session.add(mailbox)
    session.commit()
    session.refresh(mailbox)
    return mailbox_public(mailbox)


@router.get("")
def list_mailboxes(
    session: SessionDep,
    caller: CallerDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MailboxPublic]:
    """The workspace's mailboxes (a member: those shared with them), oldest first; the
    reputation guard's figures are on each mailbox's own page (GET /mailboxes/{id})."""
    query = select(Mailbox)
    if not caller.is_admin:
        query = query.where(
            col(Mailbox.id).in_(
                select(MailboxGrant.mailbox_id).where(MailboxGrant.user_id == caller.user_id)
            )
        )
    rows = session.exec(query.order_by(col(Mailbox.id)).offset(offset).limit(limit))
    return [mailbox_public(m) for m in rows]


@router.get("/{mailbox_id}")
def get_mailbox(mailbox_id: int, session: SessionDep, settings: SettingsDep) -> MailboxPublic:
    """One mailbox, with the reputation guard's figures over its last sends."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise not_found("mailbox", mailbox_id)
    return mailbox_public(
        mailbox, figures(session, mailbox, ReputationLimits.from_settings(settings))
    )


@router.post("/{mailbox_id}/reconnect", dependencies=[ADMIN_ONLY])
async def reconnect_mailbox(
    mailbox_id: int,
    body: MailboxReconnect,
    request: Request,
    temporal: TemporalDep,
    keyring: KeyringDep,
    checks: ConnectionChecksDep,
    tokens: AccessTokensDep,
) -> ReconnectResult:
    """Log in with the given (or stored) credentials; if the server accepts, store them,
    mark the mailbox connected, and let every sequence waiting on it go on. A mailbox the
    reputation guard paused stays paused (its new credentials are kept): resume it with
    POST /mailboxes/{id}/resume.

    A refused login is a 422 with a fixed reason ("login refused", "could not
    connect", "TLS failed", "timed out"; details in the server's log), and nothing is
    changed. Checks are rate-limited per workspace (429).
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
    checks.take(rate_key(mailbox.workspace_id))
    if mailbox.auth_method == AuthMethod.OAUTH2 and (password or body.username):
        raise ProblemError(
            422,
            [
                Problem(
                    field="password",
                    reason=f"this mailbox signs in with {mailbox.oauth_provider}, not a "
                    f"password: {reconnect_hint(mailbox)}",
                )
            ],
        )
    account = smtp_account(
        mailbox, keyring, body.username, password, hosts=checks.hosts, tokens=tokens
    )
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
            version = reconnect(session, row, keyring, body.username, password)
            return mailbox_public(row), version, sequences_to_resume(session, row)

    public, version, workflow_ids = await asyncio.to_thread(store)
    resumed = await signal_each(temporal, workflow_ids, "mailbox_reconnected", version)
    return ReconnectResult(mailbox=public, sequences_resumed=resumed)
