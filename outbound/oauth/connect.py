"""The authorization code flow with PKCE, as a client of the provider (Authlib, joserfc).

``consent_url`` is where the admin's browser goes; ``exchange_code`` turns the
code the provider sends back into tokens, and reads which account consented
from the ID token, checked against the provider's keys, issuer, our client id
and this sign-in's nonce.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from outbound.oauth.provider_settings import OAuthProviderSettings
from outbound.oauth.providers import AUTHORIZE_PARAMS, SCOPES, Provider

_log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0


class ConnectRefused(Exception):
    """The provider refused the sign-in, or its answer does not prove who signed in."""


class ConnectUnavailable(Exception):
    """The provider did not answer: try again."""


@dataclass(frozen=True)
class Consented:
    """Who signed in, and the tokens they granted (the refresh token is stored encrypted)."""

    email: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)


def new_secrets() -> tuple[str, str]:
    """A PKCE code verifier (RFC 7636: 43–128 characters) and an ID-token nonce."""
    return generate_token(64), generate_token(32)


def consent_url(
    provider: Provider,
    config: OAuthProviderSettings,
    redirect_url: str,
    state: str,
    code_verifier: str,
    nonce: str,
    login_hint: str | None,
) -> str:
    client = OAuth2Client(  # builds the URL only: no HTTP client behind it
        None,
        client_id=config.client_id,
        redirect_uri=redirect_url,
        scope=" ".join(SCOPES[provider]),
        code_challenge_method="S256",
    )
    extra = dict(AUTHORIZE_PARAMS[provider])
    if login_hint:
        extra["login_hint"] = login_hint
    url, _ = client.create_authorization_url(
        config.authorize_url, state=state, code_verifier=code_verifier, nonce=nonce, **extra
    )
    return str(url)


async def exchange_code(
    provider: Provider,
    config: OAuthProviderSettings,
    redirect_url: str,
    code: str,
    code_verifier: str,
    nonce: str,
) -> Consented:
    """The tokens for ``code`` and the verified address of the account that consented."""
    client = AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        redirect_uri=redirect_url,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
        timeout=TIMEOUT_SECONDS,
    )
    try:
        async with client:
            token = await client.fetch_token(
                config.token_url, code=code, code_verifier=code_verifier
            )
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as plain:
            keys = await plain.get(config.jwks_url)
            keys.raise_for_status()
            key_set = keys.json()
    except OAuthError as error:
        said = f"{error.error}: {error.description}" if error.description else error.error
        raise ConnectRefused(f"{provider.label} refused the sign-in ({said})") from None
    except (httpx.HTTPError, ValueError) as error:
        _log.warning("%s sign-in: the provider failed: %s", provider.label, type(error).__name__)
        raise ConnectUnavailable(f"{provider.label} did not answer; try again") from None
    refresh_token = token.get("refresh_token")
    if not refresh_token:
        raise ConnectRefused(
            f"{provider.label} granted no refresh token (offline access); remove Outbound's "
            "access in the account's security settings and sign in again"
        )
    email = verified_email(provider, config, str(token.get("id_token") or ""), key_set, nonce)
    return Consented(email, str(token["access_token"]), str(refresh_token))


def verified_email(
    provider: Provider,
    config: OAuthProviderSettings,
    id_token: str,
    key_set: object,
    nonce: str,
) -> str:
    """The address in a genuine ID token of this sign-in; ConnectRefused otherwise."""
    if not id_token:
        raise ConnectRefused(f"{provider.label} sent no ID token: the openid scope is needed")
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(key_set), algorithms=["RS256"])  # type: ignore[arg-type]
        claims = decoded.claims
        issuer = config.issuer.replace("{tenantid}", str(claims.get("tid", "")))
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": config.client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError, TypeError) as error:
        _log.warning("%s ID token refused: %s", provider.label, error)
        raise ConnectRefused(f"{provider.label}'s ID token could not be verified") from None
    email = claims.get("email") or claims.get("preferred_username")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        raise ConnectRefused(f"{provider.label} did not name a verified address for the account")
    return email.strip().lower()
