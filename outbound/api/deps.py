"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from outbound.mail.check_rate import ConnectionChecks
from outbound.oauth.tokens import AccessTokens
from outbound.settings import Settings
from outbound.sms.provider import SmsProvider
from outbound.sms.twilio_provider import TwilioProvider
from outbound.store.encryption import Keyring


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with Session(engine) as session:
        yield session


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _connection_checks(request: Request) -> ConnectionChecks:
    checks: ConnectionChecks | None = getattr(request.app.state, "connection_checks", None)
    if checks is None:
        checks = ConnectionChecks.from_settings(request.app.state.settings)
        request.app.state.connection_checks = checks
    return checks


def _access_tokens(request: Request) -> AccessTokens:
    """The API process's access tokens of OAuth mailboxes (login checks), made once per app."""
    tokens: AccessTokens | None = getattr(request.app.state, "access_tokens", None)
    if tokens is None:
        state = request.app.state
        tokens = AccessTokens(state.engine, state.settings, state.keyring)
        state.access_tokens = tokens
    return tokens


def _sms_provider(request: Request) -> SmsProvider:
    """The SMS provider (its webhooks' signatures and forms), made once per app."""
    provider: SmsProvider | None = getattr(request.app.state, "sms_provider", None)
    if provider is None:
        provider = TwilioProvider(request.app.state.settings.sms_api_base_url)
        request.app.state.sms_provider = provider
    return provider


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(_session)]
TemporalDep = Annotated[Client, Depends(_temporal)]
KeyringDep = Annotated[Keyring, Depends(_keyring)]
ConnectionChecksDep = Annotated[ConnectionChecks, Depends(_connection_checks)]
SmsProviderDep = Annotated[SmsProvider, Depends(_sms_provider)]
AccessTokensDep = Annotated[AccessTokens, Depends(_access_tokens)]
