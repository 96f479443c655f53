"""Signing in to SMTP with an OAuth 2.0 access token: OAUTHBEARER (RFC 7628) or XOAUTH2.

XOAUTH2 (Google's and Microsoft's) comes with aiosmtplib; OAUTHBEARER, the
standard one, is a few lines and is preferred where the server offers it. A
refused token makes the server send an error challenge (334, base64 JSON) that
the client must answer (RFC 7628 §3.2.3: a single ^A) before the final 535.

The token is fetched through ``bearer``, which is given the token the server
just refused: a cached token that expired early or was revoked is replaced
once, and only a refused fresh token (or a refresh the provider refuses) fails
the sign-in.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import aiosmtplib

BearerSource = Callable[[str | None], Awaitable[str]]
"""Gives a live access token; its argument is a token the server just refused, if any."""

_AUTH_SUCCESSFUL, _AUTH_CONTINUE = 235, 334


def oauthbearer_initial_response(username: str, host: str, port: int, token: str) -> bytes:
    """The client's first message of OAUTHBEARER, base64 (RFC 7628 §3.1)."""
    name = username.replace("=", "=3D").replace(",", "=2C")
    text = f"n,a={name},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(text.encode())


async def smtp_oauth_login(
    client: aiosmtplib.SMTP, username: str, bearer: BearerSource, host: str, port: int
) -> None:
    """Authenticate ``client`` with an access token; one retry with a fresh token.

    Raises ``aiosmtplib.SMTPAuthenticationError`` when the server refuses a fresh token,
    and whatever ``bearer`` raises when no token can be had."""
    token = await bearer(None)
    try:
        await _authenticate(client, username, token, host, port)
    except aiosmtplib.SMTPAuthenticationError:
        token = await bearer(token)
        await _authenticate(client, username, token, host, port)


async def _authenticate(
    client: aiosmtplib.SMTP, username: str, token: str, host: str, port: int
) -> None:
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if "oauthbearer" not in client.server_auth_methods:
        await client.auth_xoauth2(username, token)
        return
    answer = await client.execute_command(
        b"AUTH", b"OAUTHBEARER", oauthbearer_initial_response(username, host, port, token)
    )
    if answer.code == _AUTH_CONTINUE:  # the error challenge: acknowledge it
        answer = await client.execute_command(base64.b64encode(b"\x01"))
    if answer.code != _AUTH_SUCCESSFUL:
        raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)
