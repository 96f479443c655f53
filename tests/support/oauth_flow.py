"""The admin's side of connecting a mailbox with OAuth, for tests: settings and the sign-in.

``google_settings`` points Outbound's Google provider at the local provider and
mail servers (``tests.support.oauth_provider``, ``oauth_smtp``, ``imap_server``).
``sign_in`` does what an admin and their browser do: start through the API, go
to the consent URL (the local provider consents at once for ``login_hint``), and
follow its redirect to the callback, without an API key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from outbound.oauth.connect import Consented, consent_url, exchange_code, new_secrets
from outbound.oauth.provider_settings import GoogleOAuthSettings
from outbound.oauth.providers import Provider
from tests.support.oauth_provider import OAuthTestProvider

REDIRECT_URL = "http://api.local/mailboxes/oauth/callback"  # the in-process API's base URL
ALWAYS_OPEN = {
    "time_zone": "Europe/Berlin",
    "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "send_start": "00:00",
    "send_end": "24:00",
    "min_gap_seconds": 0,
    "daily_limit": 100_000,
}


def google_settings(
    provider: OAuthTestProvider, smtp_port: int, imap_port: int | None = None
) -> dict[str, Any]:
    """Settings that make "Google" the local provider and servers."""
    provider.redirect_uris.append(REDIRECT_URL)
    return {
        "oauth_redirect_url": REDIRECT_URL,
        "oauth_google": {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "authorize_url": provider.authorize_url,
            "token_url": provider.token_url,
            "jwks_url": provider.jwks_url,
            "issuer": provider.issuer,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_tls": "none",
            "imap_host": "127.0.0.1",
            "imap_port": imap_port or 993,
            "imap_tls": False,
        },
    }


async def consent(start_answer: httpx.Response) -> str:
    """The provider's redirect (path and query) after consenting on its page."""
    assert start_answer.status_code == 200, start_answer.text
    async with httpx.AsyncClient() as browser:
        page = await browser.get(start_answer.json()["authorization_url"])
    assert page.status_code == 302, page.text
    location = urlsplit(page.headers["location"])
    return f"{location.path}?{location.query}"


async def sign_in(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    """Start (with ``api``'s key), consent, and come back to the callback without a key."""
    back = await consent(await api.post("/mailboxes/oauth/google/start", json=body))
    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as browser:
        return await browser.get(back)


async def granted(provider: OAuthTestProvider, email: str, smtp_port: int = 25) -> Consented:
    """Tokens for ``email`` through Outbound's own client code (``outbound.oauth.connect``),
    without the API: for tests of what is done with them."""
    config = GoogleOAuthSettings.model_validate(
        google_settings(provider, smtp_port)["oauth_google"]
    )
    verifier, nonce = new_secrets()
    url = consent_url(Provider.GOOGLE, config, REDIRECT_URL, "state", verifier, nonce, email)
    async with httpx.AsyncClient() as browser:
        location = (await browser.get(url)).headers["location"]
    (code,) = parse_qs(urlsplit(location).query)["code"]
    return await exchange_code(Provider.GOOGLE, config, REDIRECT_URL, code, verifier, nonce)
