"""Outbound's SMTP and IMAP sign-in with an access token, against the OAuth-only servers.

The servers check each token at the local provider (``tests/support``). What a
user relies on: the mechanism the server offers is used, a cached token the
server refuses is replaced once by a fresh one, and a refusal of the fresh one
is a refused login, quickly, never a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from outbound.devstack.sink import SinkHandler
from outbound.domain.statuses import TlsMode
from outbound.mail.hosts import HostPolicy
from outbound.mail.imap import ImapAccount, ImapLoginFailed, check_imap_login
from outbound.mail.oauth_sasl import BearerSource
from outbound.mail.outcomes import Outcome
from outbound.mail.smtp import SendFailed, SmtpAccount, check_login
from tests.support import imap_server as imap_module
from tests.support import oauth_provider as provider_module
from tests.support.imap_server import ImapTestServer
from tests.support.oauth_flow import granted
from tests.support.oauth_provider import OAuthTestProvider
from tests.support.oauth_smtp import start_oauth_sink

oauth_provider = provider_module.oauth_provider
oauth_imap_server = imap_module.oauth_imap_server

ADA = "ada@mail.example.com"
LOOPBACK = HostPolicy(allow_private=True, allow_any_port=True)


def serving(*tokens: str) -> tuple[BearerSource, list[str | None]]:
    """A bearer source that hands out ``tokens`` in order, and what it was told was refused."""
    refusals: list[str | None] = []
    queue = list(tokens)

    async def bearer(refused: str | None) -> str:
        refusals.append(refused)
        return queue.pop(0)

    return bearer, refusals


@pytest.fixture
def provider(oauth_provider: OAuthTestProvider) -> Iterator[OAuthTestProvider]:
    oauth_provider.add_account(ADA)
    yield oauth_provider


def smtp_account(port: int, bearer: BearerSource) -> SmtpAccount:
    return SmtpAccount("127.0.0.1", port, TlsMode.NONE, username=ADA, bearer=bearer, hosts=LOOPBACK)


@pytest.mark.parametrize("mechanisms", [("XOAUTH2", "OAUTHBEARER"), ("XOAUTH2",)])
async def test_smtp_uses_oauthbearer_where_offered_and_replaces_a_refused_token_once(
    provider: OAuthTestProvider, mechanisms: tuple[str, ...]
) -> None:
    stale = (await granted(provider, ADA)).access_token
    provider.revoke_consent(ADA)
    fresh = (await granted(provider, ADA)).access_token
    controller = start_oauth_sink(provider, SinkHandler(), mechanisms=mechanisms)
    try:
        bearer, refusals = serving(stale, fresh)
        await check_login(smtp_account(controller.port, bearer))
        log = list(controller.oauth_log)
    finally:
        controller.stop()

    expected = "OAUTHBEARER" if "OAUTHBEARER" in mechanisms else "XOAUTH2"
    assert [(a.mechanism, a.token, a.accepted) for a in log] == [
        (expected, stale, False),
        (expected, fresh, True),
    ]
    assert refusals == [None, stale]


async def test_smtp_refusing_the_fresh_token_too_is_a_refused_login(
    provider: OAuthTestProvider,
) -> None:
    token = (await granted(provider, ADA)).access_token
    provider.revoke_consent(ADA)
    controller = start_oauth_sink(provider, SinkHandler())
    try:
        with pytest.raises(SendFailed) as failed:
            await check_login(smtp_account(controller.port, serving(token, token)[0]))
    finally:
        controller.stop()

    assert failed.value.classified.outcome is Outcome.AUTH_FAILED


async def test_imap_reads_with_a_token_and_a_refused_one_is_refused_at_once(
    provider: OAuthTestProvider, oauth_imap_server: ImapTestServer
) -> None:
    stale = (await granted(provider, ADA)).access_token
    provider.revoke_consent(ADA)
    fresh = (await granted(provider, ADA)).access_token

    def account(bearer: BearerSource) -> ImapAccount:
        return ImapAccount(
            host="127.0.0.1",
            port=oauth_imap_server.port,
            tls=False,
            username=ADA,
            password="",
            bearer=bearer,
            hosts=LOOPBACK,
        )

    bearer, refusals = serving(stale, fresh)
    await check_imap_login(account(bearer))
    assert refusals == [None, stale]

    began = time.monotonic()
    with pytest.raises(ImapLoginFailed):  # the last: dovecot slows logins after a refusal
        await check_imap_login(account(serving(stale, stale)[0]))
    assert time.monotonic() - began < 8  # answered, not timed out (aioimaplib alone: 10 s+)
