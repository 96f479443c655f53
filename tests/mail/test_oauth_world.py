"""The OAuth outside world itself: the provider, the OAuth-only SMTP server and dovecot's oauth2.

The product's OAuth tests lean on these servers behaving like Google's and Microsoft's, so
this module drives them with independent clients (Authlib's OAuth client, aiosmtplib,
aioimaplib), never with the product's code.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiosmtplib
import httpx
import pytest
from aioimaplib import IMAP4, Command, Response
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from outbound.devstack.fault_sink import Answer, FaultSinkHandler
from outbound.devstack.sink import SinkHandler
from tests.support import imap_server as imap_module
from tests.support import oauth_provider as provider_module
from tests.support.oauth_provider import REVOKED, OAuthTestProvider
from tests.support.oauth_smtp import OAuthAttempt, OAuthSinkController, start_oauth_sink

oauth_provider = provider_module.oauth_provider
oauth_imap_server = imap_module.oauth_imap_server

ADA = "ada@mail.example.com"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"  # never contacted: the test reads the 302
SCOPE = "openid email https://mail.google.com/"


@pytest.fixture
def provider(oauth_provider: OAuthTestProvider) -> OAuthTestProvider:
    """The provider with Ada's account and our redirect URI registered."""
    oauth_provider.add_account(ADA)
    oauth_provider.redirect_uris.append(REDIRECT_URI)
    return oauth_provider


@pytest.fixture
def smtp(provider: OAuthTestProvider) -> Iterator[OAuthSinkController]:
    """The OAuth-only submission server, checking tokens at ``provider``."""
    controller = start_oauth_sink(provider, SinkHandler())
    try:
        yield controller
    finally:
        controller.stop()


def _client(provider: OAuthTestProvider, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        provider.client_id,
        provider.client_secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        **kwargs,
    )


async def _authorize(provider: OAuthTestProvider, login_hint: str, **params: str) -> str:
    """The Location /authorize redirects the browser to (no consent screen here)."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(
            provider.authorize_url,
            params={
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": SCOPE,
                "login_hint": login_hint,
                **params,
            },
        )
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def _sign_in(
    provider: OAuthTestProvider, email: str = ADA, nonce: str = "nonce-1", **kwargs: Any
) -> dict[str, Any]:
    """The whole code flow with PKCE, as the product runs it: the token response."""
    verifier = secrets.token_urlsafe(48)
    async with _client(provider, **kwargs) as client:
        url, _state = client.create_authorization_url(
            provider.authorize_url,
            code_verifier=verifier,
            nonce=nonce,
            login_hint=email,
            access_type="offline",
            prompt="consent",
        )
        async with httpx.AsyncClient() as browser:
            location = (await browser.get(url)).headers["location"]
        token: dict[str, Any] = await client.fetch_token(
            provider.token_url, authorization_response=location, code_verifier=verifier
        )
        return token


async def _post_token(provider: OAuthTestProvider, **form: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            provider.token_url, data=form, auth=(provider.client_id, provider.client_secret)
        )


async def _introspect(provider: OAuthTestProvider, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            provider.introspect_url,
            data={"token": token},
            auth=(provider.resource_client_id, provider.resource_client_secret),
        )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


# --- the provider


async def test_code_flow_gives_tokens_and_an_id_token_that_verifies(
    provider: OAuthTestProvider,
) -> None:
    token = await _sign_in(provider, nonce="n-0S6_WzA2Mj")

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == SCOPE
    assert token["access_token"].startswith("at-")
    assert token["refresh_token"].startswith("rt-")
    assert provider.issued_refresh_tokens() == [token["refresh_token"]]
    assert provider.code_grants == 1
    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(provider.jwks_url)).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == provider.client_id
    assert claims["email"] == ADA
    assert claims["email_verified"] is True
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["sub"] == provider.subject(ADA)
    assert claims["exp"] > claims["iat"]
    assert provider.is_active(token["access_token"])
    assert await _introspect(provider, token["access_token"]) == {
        "active": True,
        "email": ADA,
        "username": ADA,
        "sub": provider.subject(ADA),
        "scope": SCOPE,
        "client_id": provider.client_id,
        "exp": pytest.approx(claims["iat"] + 3600, abs=2),
        "token_type": "Bearer",
    }
    assert await _introspect(provider, token["refresh_token"]) == {"active": False}


async def test_client_secret_post_works_too_and_lifetimes_follow_the_setting(
    provider: OAuthTestProvider,
) -> None:
    provider.access_token_seconds = 60
    token = await _sign_in(provider, token_endpoint_auth_method="client_secret_post")
    assert token["expires_in"] == 60


async def test_a_code_is_single_use_and_bound_to_its_pkce_verifier(
    provider: OAuthTestProvider,
) -> None:
    verifier = secrets.token_urlsafe(48)
    async with _client(provider) as client:
        url, _ = client.create_authorization_url(provider.authorize_url, code_verifier=verifier)
    async with httpx.AsyncClient() as browser:
        location = (await browser.get(url + f"&login_hint={ADA}")).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}

    wrong = await _post_token(provider, **exchange, code_verifier=secrets.token_urlsafe(48))
    right = await _post_token(provider, **exchange, code_verifier=verifier)
    again = await _post_token(provider, **exchange, code_verifier=verifier)

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert right.status_code == 200
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


async def test_authorize_requires_pkce_s256(provider: OAuthTestProvider) -> None:
    plain = {"code_challenge": "x" * 43, "code_challenge_method": "plain"}
    without = await _authorize(provider, ADA, state="s-1")
    with_plain = await _authorize(provider, ADA, state="s-2", **plain)

    for location in (without, with_plain):
        query = parse_qs(urlsplit(location).query)
        assert query["error"] == ["invalid_request"]
        assert "code" not in query


async def test_refused_consent_and_unknown_accounts_come_back_as_access_denied(
    provider: OAuthTestProvider,
) -> None:
    pkce = {"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}
    pkce["code_challenge_method"] = "S256"

    unknown = await _authorize(provider, "nobody@gmail.test", state="s-1", **pkce)
    provider.deny_consent = True
    refused = await _authorize(provider, ADA, state="s-2", **pkce)

    for location, state in ((unknown, "s-1"), (refused, "s-2")):
        assert location.startswith(REDIRECT_URI + "?")
        query = parse_qs(urlsplit(location).query)
        assert query["error"] == ["access_denied"]
        assert query["state"] == [state]
        assert query["error_description"]
        assert "code" not in query


async def test_refresh_gives_a_new_access_token_and_rotates_only_when_asked(
    provider: OAuthTestProvider,
) -> None:
    first = await _sign_in(provider)
    kept = await _post_token(
        provider, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert kept.status_code == 200
    assert kept.json()["access_token"] != first["access_token"]
    assert "refresh_token" not in kept.json()  # Google keeps the refresh token
    assert provider.is_active(kept.json()["access_token"])

    provider.rotate_refresh_tokens = True  # Microsoft's way
    rotated = await _post_token(
        provider, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    retired = await _post_token(
        provider, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert rotated.json()["refresh_token"].startswith("rt-")
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert retired.status_code == 400
    assert retired.json() == {"error": "invalid_grant", "error_description": REVOKED}
    assert provider.refresh_grants == 2
    assert provider.issued_refresh_tokens() == [
        first["refresh_token"],
        rotated.json()["refresh_token"],
    ]


async def test_authlib_refresh_works(provider: OAuthTestProvider) -> None:
    first = await _sign_in(provider)
    async with _client(provider) as client:
        refreshed = await client.refresh_token(
            provider.token_url, refresh_token=first["refresh_token"]
        )
    assert refreshed["access_token"] != first["access_token"]


async def test_revoked_consent_kills_every_token_at_once(provider: OAuthTestProvider) -> None:
    token = await _sign_in(provider)

    provider.revoke_consent(ADA)

    refresh = await _post_token(
        provider, grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    assert refresh.status_code == 400
    assert refresh.json() == {"error": "invalid_grant", "error_description": REVOKED}
    assert not provider.is_active(token["access_token"])
    assert await _introspect(provider, token["access_token"]) == {"active": False}


async def test_revoking_one_token_revokes_the_grant(provider: OAuthTestProvider) -> None:
    token = await _sign_in(provider)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            provider.revoke_url,
            data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
            auth=(provider.client_id, provider.client_secret),
        )
    assert response.status_code == 200
    assert not provider.is_active(token["access_token"])


async def test_expired_access_tokens_are_inactive(provider: OAuthTestProvider) -> None:
    provider.access_token_seconds = 0  # expires at once (wall clock)
    token = await _sign_in(provider)
    assert not provider.is_active(token["access_token"])
    assert await _introspect(provider, token["access_token"]) == {"active": False}


async def test_token_endpoint_outage_answers_503(provider: OAuthTestProvider) -> None:
    token = await _sign_in(provider)
    provider.token_endpoint_down = True
    response = await _post_token(
        provider, grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


# --- SMTP


async def _smtp_session(controller: OAuthSinkController) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=controller.port, start_tls=False)
    await client.connect()
    await client.ehlo()
    return client


async def test_smtp_offers_only_oauth_and_requires_it(smtp: OAuthSinkController) -> None:
    client = await _smtp_session(smtp)
    try:
        assert client.esmtp_extensions["auth"] == "OAUTHBEARER XOAUTH2"
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail(ADA)
        assert refused.value.code == 530
        assert (await client.execute_command(b"AUTH", b"PLAIN", b"AGEAYg==")).code == 504
    finally:
        await client.quit()


async def test_smtp_xoauth2_accepts_a_live_token_and_delivers(
    provider: OAuthTestProvider, smtp: OAuthSinkController
) -> None:
    token = (await _sign_in(provider))["access_token"]
    client = await _smtp_session(smtp)
    try:
        accepted = await client.auth_xoauth2(ADA, token)
        await client.sendmail(ADA, ["bob@example.test"], b"Subject: hello\r\n\r\nHi Bob\r\n")
    finally:
        await client.quit()

    assert (accepted.code, accepted.message) == (235, "2.7.0 Accepted")
    assert smtp.oauth_log == [OAuthAttempt("XOAUTH2", ADA, token, True)]
    [received] = smtp.handler.received
    assert received.envelope_to == ["bob@example.test"]
    assert received.message["Subject"] == "hello"


async def test_smtp_refuses_revoked_and_foreign_tokens_with_535(
    provider: OAuthTestProvider, smtp: OAuthSinkController
) -> None:
    provider.add_account("grace@mail.example.com")
    grace = (await _sign_in(provider, "grace@mail.example.com"))["access_token"]
    ada = (await _sign_in(provider))["access_token"]
    provider.revoke_consent(ADA)

    for user, token in ((ADA, ada), (ADA, grace)):
        client = await _smtp_session(smtp)
        try:
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
                await client.auth_xoauth2(user, token)
        finally:
            await client.quit()
        assert refused.value.code == 535
        assert refused.value.message.startswith("5.7.8 Username and Password not accepted.")

    assert [attempt.accepted for attempt in smtp.oauth_log] == [False, False]


async def test_smtp_oauthbearer(provider: OAuthTestProvider, smtp: OAuthSinkController) -> None:
    token = (await _sign_in(provider))["access_token"]
    message = f"n,a={ADA},\x01host=127.0.0.1\x01port={smtp.port}\x01auth=Bearer {token}\x01\x01"
    client = await _smtp_session(smtp)
    try:
        accepted = await client.execute_command(
            b"AUTH", b"OAUTHBEARER", base64.b64encode(message.encode())
        )
        provider.revoke_consent(ADA)
        await client.rset()
    finally:
        await client.quit()
    client = await _smtp_session(smtp)
    try:
        challenge = await client.execute_command(
            b"AUTH", b"OAUTHBEARER", base64.b64encode(message.encode())
        )
        refused = await client.execute_command(b"AQ==")
    finally:
        await client.quit()

    assert accepted.code == 235
    assert challenge.code == 334
    assert b'"status":"invalid_token"' in base64.b64decode(challenge.message)
    assert refused.code == 535
    assert smtp.oauth_log == [
        OAuthAttempt("OAUTHBEARER", ADA, token, True),
        OAuthAttempt("OAUTHBEARER", ADA, token, False),
    ]


async def test_smtp_xoauth2_without_initial_response(
    provider: OAuthTestProvider, smtp: OAuthSinkController
) -> None:
    token = (await _sign_in(provider))["access_token"]
    client = await _smtp_session(smtp)
    try:
        ready = await client.execute_command(b"AUTH", b"XOAUTH2")
        accepted = await client.execute_command(
            base64.b64encode(f"user={ADA}\x01auth=Bearer {token}\x01\x01".encode())
        )
    finally:
        await client.quit()
    assert (ready.code, accepted.code) == (334, 235)


async def test_smtp_scripted_faults_still_apply_after_oauth(provider: OAuthTestProvider) -> None:
    handler = FaultSinkHandler()
    handler.at_rcpt("bob@example.test", Answer(452, "4.2.2 Mailbox full"))
    controller = start_oauth_sink(provider, handler, mechanisms=("XOAUTH2",))
    token = (await _sign_in(provider))["access_token"]
    try:
        client = await _smtp_session(controller)
        try:
            assert client.esmtp_extensions["auth"] == "XOAUTH2"
            await client.auth_xoauth2(ADA, token)
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
                await client.sendmail(ADA, ["bob@example.test"], b"Subject: x\r\n\r\nx\r\n")
            await client.sendmail(ADA, ["bob@example.test"], b"Subject: y\r\n\r\ny\r\n")
        finally:
            await client.quit()
    finally:
        controller.stop()
    assert [r.message["Subject"] for r in handler.received] == ["y"]


# --- IMAP (dovecot's oauth2)


class _AnsweringXoauth2(Command):  # type: ignore[misc]
    """``AUTHENTICATE XOAUTH2`` that answers the server's error challenge with an empty line.

    A refused token gets a ``+ <base64 JSON>`` continuation first, from dovecot as from
    Gmail, and the NO only after the client's answer; aioimaplib's own ``xoauth2()`` sends
    none, so it waits until its timeout instead of seeing NO.
    """

    def __init__(self, client: IMAP4, user: str, token: str) -> None:
        blob = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
        protocol = client.protocol
        super().__init__("AUTHENTICATE", protocol.new_tag(), "XOAUTH2", blob, loop=protocol.loop)
        self.protocol = protocol

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if result == "Pending":
            self.protocol.send("")


async def _imap(server: imap_module.ImapTestServer, seconds: float = 10) -> IMAP4:
    """A connected aioimaplib client; ``seconds`` is its timeout for every command."""
    client = IMAP4(server.host, server.port, timeout=seconds)
    await client.wait_hello_from_server()
    return client


async def test_dovecot_takes_live_tokens_and_refuses_revoked_ones(
    provider: OAuthTestProvider, oauth_imap_server: imap_module.ImapTestServer
) -> None:
    uid = oauth_imap_server.append(b"Subject: for Ada\r\n\r\nHello\r\n", user=ADA)
    token = (await _sign_in(provider))["access_token"]

    client = await _imap(oauth_imap_server)
    logged_in = await client.xoauth2(ADA, token)
    selected = await client.select("INBOX")
    await client.logout()

    provider.revoke_consent(ADA)
    client = await _imap(oauth_imap_server)
    refused: Response = await client.protocol.execute(_AnsweringXoauth2(client, ADA, token))
    await client.logout()

    assert logged_in.result == "OK"
    assert b"1 EXISTS" in selected.lines
    assert uid == 1
    assert refused.result == "NO"
    assert b"AUTHENTICATIONFAILED" in refused.lines[-1]


async def test_aioimaplib_xoauth2_leaves_the_error_challenge_unanswered(
    provider: OAuthTestProvider, oauth_imap_server: imap_module.ImapTestServer
) -> None:
    """Pins aioimaplib's behaviour the product has to live with (see _AnsweringXoauth2)."""
    token = (await _sign_in(provider))["access_token"]
    provider.revoke_consent(ADA)
    client = await _imap(oauth_imap_server, seconds=1)
    with pytest.raises(TimeoutError):
        await client.xoauth2(ADA, token)
