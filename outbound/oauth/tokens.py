"""Access tokens of OAuth mailboxes: refreshed shortly before they expire, cached per process.

Only activities (and the API's login checks) call this; workflow code never
sees a token. The refresh token is read from the database, decrypted, when a
refresh is due, and never leaves this module; an access token lives in this
process's memory until a few minutes before it expires.

A provider that rotates refresh tokens (Microsoft may) answers each refresh
with a new one: it is stored at once, encrypted, and only if the mailbox was
not reconnected meanwhile. Another process may have rotated it first, so a
refusal is believed only after the stored token has been read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from outbound.oauth.errors import TokenRefused, TokenUnavailable
from outbound.oauth.providers import Provider, provider_settings
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.tables import Mailbox

_log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
"""An access token is refreshed this long before it expires (a send must not start with a
token that dies during its SMTP dialogue), or half-way through a shorter life."""
TOKEN_TIMEOUT_SECONDS = 20.0
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@dataclass(frozen=True)
class OAuthLogin:
    """Which mailbox signs in, at which connection version (a reconnect makes a new one)."""

    mailbox_id: int
    version: int
    provider: Provider
    username: str


@dataclass(frozen=True)
class _Cached:
    token: str
    refresh_at: datetime


def refresh_at(issued_at: datetime, lifetime: timedelta) -> datetime:
    """When a token issued at ``issued_at`` for ``lifetime`` is replaced."""
    return issued_at + max(lifetime - REFRESH_MARGIN, lifetime / 2)


def _lifetime(answer: dict[str, object]) -> int:
    """The token's ``expires_in`` in seconds (an hour if the answer has none)."""
    try:
        return int(str(answer.get("expires_in", 3600)))
    except ValueError:
        return 3600


def _now() -> datetime:
    return datetime.now(UTC)


class AccessTokens:
    """This process's access tokens, one per mailbox and connection version."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        keyring: Keyring,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._keyring = keyring
        self._clock = clock
        self._cache: dict[tuple[int, int], _Cached] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.refreshes = 0  # how many refresh grants this process made (tests, metrics)

    async def access_token(self, login: OAuthLogin, *, refused: str | None = None) -> str:
        """A live access token for ``login``; ``refused`` names one the mail server just
        refused, which is then replaced even if it has not expired.

        Raises :class:`TokenRefused` (the user must sign in again) or
        :class:`TokenUnavailable` (try again later)."""
        key = (login.mailbox_id, login.version)
        lock = self._locks.setdefault(login.mailbox_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None and cached.token != refused and cached.refresh_at > self._clock():
                return cached.token
            fresh = await self._refresh(login)
            self._cache = {k: v for k, v in self._cache.items() if k[0] != login.mailbox_id}
            self._cache[key] = fresh
            return fresh.token

    def forget(self, mailbox_id: int) -> None:
        """Drop the mailbox's cached token (it was disconnected or reconnected)."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != mailbox_id}

    async def _refresh(self, login: OAuthLogin) -> _Cached:
        stored = await asyncio.to_thread(self._stored_refresh_token, login)
        used = self._keyring.decrypt(stored)
        try:
            answer = await self._refresh_grant(login.provider, used)
        except TokenRefused:
            again = await asyncio.to_thread(self._stored_refresh_token, login)
            if again == stored:  # not rotated by another process meanwhile: believe it
                raise
            stored, used = again, self._keyring.decrypt(again)
            answer = await self._refresh_grant(login.provider, used)
        self.refreshes += 1
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != used:
            await asyncio.to_thread(self._store_rotated, login, stored, rotated)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenUnavailable(f"{login.provider.label}'s token endpoint sent no access token")
        return _Cached(token, refresh_at(self._clock(), timedelta(seconds=_lifetime(answer))))

    async def _refresh_grant(self, provider: Provider, refresh_token: str) -> dict[str, object]:
        """One refresh grant at the provider's token endpoint (Authlib's client)."""
        config = provider_settings(self._settings, provider)
        client = AsyncOAuth2Client(
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            timeout=TOKEN_TIMEOUT_SECONDS,
        )
        try:
            async with client:
                answer = await client.refresh_token(config.token_url, refresh_token=refresh_token)
        except OAuthError as error:
            said = f"{error.error}: {error.description}" if error.description else error.error
            if error.error in _TRANSIENT_ERRORS:
                raise TokenUnavailable(f"{provider.label}'s token endpoint: {said}") from None
            raise TokenRefused(f"{provider.label} refused the sign-in ({said})") from None
        except (httpx.HTTPError, ValueError) as error:
            _log.warning("%s token endpoint failed: %s", provider.label, type(error).__name__)
            raise TokenUnavailable(f"{provider.label}'s token endpoint did not answer") from None
        return dict(answer)

    def _stored_refresh_token(self, login: OAuthLogin) -> str:
        with Session(self._engine) as session:
            row = session.exec(
                select(Mailbox.oauth_refresh_token_encrypted, Mailbox.connection_version).where(
                    Mailbox.id == login.mailbox_id
                )
            ).first()
        if row is None or row[1] != login.version:
            raise TokenUnavailable("the mailbox was reconnected meanwhile")
        if not row[0]:
            raise TokenRefused("the mailbox has no stored sign-in; connect it again")
        return row[0]

    def _store_rotated(self, login: OAuthLogin, used: str, rotated: str) -> None:
        with Session(self._engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(Mailbox)
                .where(
                    col(Mailbox.id) == login.mailbox_id,
                    col(Mailbox.connection_version) == login.version,
                    col(Mailbox.oauth_refresh_token_encrypted) == used,
                )
                .values(oauth_refresh_token_encrypted=self._keyring.encrypt(rotated))
            )
            session.commit()
