"""Connecting a mailbox by signing in with Google or Microsoft (OAuth 2.0, code flow + PKCE).

``POST /mailboxes/oauth/{provider}/start`` (an admin, with an API key) answers
the provider's consent page; the provider sends the admin's browser back to
``GET /mailboxes/oauth/callback``, which carries no API key: its proof is the
signed, single-use ``state`` (``outbound.oauth.state``), which names the
workspace and the admin. The callback exchanges the code, checks that the
provider's SMTP server takes the new token, then creates or reconnects the
mailbox, lets its waiting sequences go on and starts its inbox sync.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session

from outbound.api.auth import ADMIN_ONLY, CallerDep, usable_mailbox
from outbound.api.deps import (
    AccessTokensDep,
    ConnectionChecksDep,
    KeyringDep,
    SettingsDep,
    TemporalDep,
)
from outbound.api.routes.mailboxes import mailbox_public
from outbound.domain.mailbox_oauth import OAuthConnected, OAuthStart, OAuthStartAnswer
from outbound.domain.problems import Problem, ProblemError
from outbound.inbound.inbox_sync_start import start_inbox_sync
from outbound.inbound.signals import signal_each
from outbound.mail.check_rate import ConnectionChecks, rate_key
from outbound.mail.hosts import HostRefused
from outbound.mail.smtp import SendFailed, SmtpAccount, check_login
from outbound.oauth.connect import (
    ConnectRefused,
    ConnectUnavailable,
    Consented,
    consent_url,
    exchange_code,
    new_secrets,
)
from outbound.oauth.errors import TokenRefused
from outbound.oauth.provider_settings import OAuthProviderSettings
from outbound.oauth.providers import Provider, provider_settings
from outbound.oauth.state import StateSigner, claim
from outbound.store.mailboxes import sequences_to_resume
from outbound.store.oauth_mailboxes import WrongAccount, begin, connect_mailbox, still_admin
from outbound.store.scope import current_scope
from outbound.store.tables import Mailbox, OAuthConnect

router = APIRouter(prefix="/mailboxes/oauth", tags=["mailboxes"])
callback_router = APIRouter(prefix="/mailboxes/oauth", tags=["mailboxes"])
"""The callback's router: no API key (the browser has none); the state is its proof."""

_START_AGAIN = "this sign-in is unknown, expired (10 minutes) or already used; start again"


def _problem(status: int, field: str, reason: str) -> ProblemError:
    return ProblemError(status, [Problem(field=field, reason=reason)])


def _configured(settings: SettingsDep, provider: Provider) -> OAuthProviderSettings:
    config = provider_settings(settings, provider)
    if not config.configured:
        variable = f"OUTBOUND_OAUTH_{provider.value.upper()}"
        raise _problem(
            422,
            "provider",
            f"signing in with {provider.label} is not set up on this installation: set "
            f"{variable}__CLIENT_ID and {variable}__CLIENT_SECRET (README: OAuth mailboxes)",
        )
    return config


@router.post("/{provider}/start", dependencies=[ADMIN_ONLY])
async def start_oauth(
    provider: Provider,
    body: OAuthStart,
    request: Request,
    caller: CallerDep,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> OAuthStartAnswer:
    """Begin connecting (or, with ``mailbox_id``, reconnecting) a mailbox by signing in
    with its provider (admins). Send the browser to ``authorization_url``; the provider
    sends it back to ``GET /mailboxes/oauth/callback``."""
    config = _configured(settings, provider)
    engine: Engine = request.app.state.engine
    options = body.model_dump(mode="json", exclude={"mailbox_id", "login_hint"})
    options["send_days"] = [day.number for day in body.send_days]
    secrets = new_secrets()

    def record() -> tuple[OAuthConnect, str | None]:
        with Session(engine) as session:
            hint = body.login_hint
            if body.mailbox_id is not None:
                usable_mailbox(session, caller, body.mailbox_id)
                hint = hint or session.get_one(Mailbox, body.mailbox_id).from_address
            row = begin(
                session,
                caller.workspace_id,
                caller.user_id,
                provider,
                body.mailbox_id,
                options,
                secrets,
                keyring,
                datetime.now(UTC),
            )
            return row, hint

    row, hint = await asyncio.to_thread(record)
    state = StateSigner(settings.signing_secret.get_secret_value()).sign(row)
    url = consent_url(
        provider, config, settings.oauth_redirect_url, state, secrets[0], secrets[1], hint
    )
    return OAuthStartAnswer(authorization_url=url, expires_at=row.expires_at)


@callback_router.get("/callback")
async def oauth_callback(
    request: Request,
    settings: SettingsDep,
    keyring: KeyringDep,
    temporal: TemporalDep,
    checks: ConnectionChecksDep,
    tokens: AccessTokensDep,
    state: Annotated[str, Query(min_length=1, max_length=2_000)],
    code: Annotated[str | None, Query(max_length=4_096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1_000)] = None,
) -> OAuthConnected:
    """Where the provider sends the admin's browser back: finishes the sign-in."""
    engine: Engine = request.app.state.engine
    row = await _claimed(engine, settings, state)
    provider = Provider(row.provider)
    if error is not None:
        said = f"{error}: {error_description}" if error_description else error
        raise _problem(400, "consent", f"{provider.label} answered {said[:300]}; nothing changed")
    if not code:
        raise _problem(400, "code", f"{provider.label} sent no authorization code")
    config = _configured(settings, provider)
    try:
        consented = await exchange_code(
            provider,
            config,
            settings.oauth_redirect_url,
            code,
            keyring.decrypt(row.code_verifier_encrypted),
            row.nonce,
        )
    except ConnectRefused as refused:
        raise _problem(400, "code", str(refused)) from None
    except ConnectUnavailable as unavailable:
        raise _problem(503, "provider", str(unavailable)) from None
    await _check_smtp(provider, config, consented, checks, row.workspace_id)

    def store() -> tuple[Mailbox, bool, list[str]]:
        with Session(engine) as session:
            try:
                mailbox, created = connect_mailbox(session, row, consented, config, keyring)
            except WrongAccount as wrong:
                raise _problem(422, "account", str(wrong)) from None
            assert mailbox.id is not None
            return mailbox, created, sequences_to_resume(session, mailbox)

    mailbox, created, workflow_ids = await asyncio.to_thread(store)
    assert mailbox.id is not None
    tokens.forget(mailbox.id)
    resumed = await signal_each(
        temporal, workflow_ids, "mailbox_reconnected", mailbox.connection_version
    )
    sync = await start_inbox_sync(temporal, settings, row.workspace_id, mailbox.id)
    return OAuthConnected(
        mailbox=mailbox_public(mailbox),
        created=created,
        sequences_resumed=resumed,
        inbox_sync_workflow_id=sync,
    )


async def _claimed(engine: Engine, settings: SettingsDep, state: str) -> OAuthConnect:
    """The sign-in a genuine state names, claimed for this request (and the request scoped
    to its workspace); 400 for anything else, 403 if its admin is an admin no more."""
    claims = StateSigner(settings.signing_secret.get_secret_value()).read(state)
    if claims is None:
        raise _problem(400, "state", _START_AGAIN)
    scope = current_scope()
    assert scope is not None, "the management app's middleware opens a scope per request"
    scope.workspace_id = claims.workspace_id

    def take() -> OAuthConnect:
        with Session(engine, expire_on_commit=False) as session:
            row = claim(session, claims, datetime.now(UTC))
            if row is None:
                raise _problem(400, "state", _START_AGAIN)
            if not still_admin(session, row):
                raise _problem(403, "authorization", "only a workspace admin may connect a mailbox")
            return row

    return await asyncio.to_thread(take)


async def _check_smtp(
    provider: Provider,
    config: OAuthProviderSettings,
    consented: Consented,
    checks: ConnectionChecks,
    workspace_id: int,
) -> None:
    """422 unless the provider's SMTP server takes the new token (nothing stored then)."""

    async def bearer(refused: str | None) -> str:
        if refused is not None:
            raise TokenRefused(f"{provider.label}'s SMTP server refused the new token")
        return consented.access_token

    checks.take(rate_key(workspace_id))
    account = SmtpAccount(
        host=config.smtp_host,
        port=config.smtp_port,
        tls_mode=config.smtp_tls,
        username=consented.email,
        bearer=bearer,
        hosts=checks.hosts,
    )
    try:
        await check_login(account)
    except HostRefused as refused:
        raise _problem(422, "provider", f"{provider.label}'s SMTP server: {refused}") from None
    except SendFailed as failed:
        hint = (
            " (is Authenticated SMTP allowed for this mailbox in Microsoft 365?)"
            if provider is Provider.MICROSOFT
            else ""
        )
        reason = f"{provider.label}'s SMTP server: {failed.classified.reason}{hint}; nothing stored"
        raise _problem(422, "smtp", reason) from None
