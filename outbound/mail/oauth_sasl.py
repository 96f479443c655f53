"""Signing in with an OAuth 2.0 access token: SMTP by OAUTHBEARER (RFC 7628) or XOAUTH2,
IMAP by XOAUTH2.

XOAUTH2 (Google's and Microsoft's) comes with aiosmtplib; OAUTHBEARER, the
standard one, is a few lines and is preferred where the server offers it. A
refused token makes the server send an error challenge (334, base64 JSON) that
the client must answer (RFC 7628 §3.2.3: a single ^A) before the final 535.

The token is fetched through ``bearer``, which is given the token the server
just refused: a cached token that expired early or was revoked is replaced
once, and only a refused fresh token (or a refresh the provider refuses) fails
the sign-in.

IMAP: aioimaplib's own ``xoauth2()`` leaves the error challenge unanswered, so
a refused token would wait for the timeout instead of reading NO (found against
dovecot, which answers like Gmail): :class:`_Xoauth2Command` answers it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import aioimaplib
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


def xoauth2_initial_response(username: str, token: str) -> str:
    """XOAUTH2's one client message, base64 (Google's and Microsoft's documentation)."""
    return base64.b64encode(f"user={username}\x01auth=Bearer {token}\x01\x01".encode()).decode()


class _Xoauth2Command(aioimaplib.Command):  # type: ignore[misc]
    """``AUTHENTICATE XOAUTH2`` that answers a refusal's challenge with an empty line."""

    def __init__(self, client: aioimaplib.IMAP4, blob: str) -> None:
        protocol = client.protocol
        super().__init__("AUTHENTICATE", protocol.new_tag(), "XOAUTH2", blob, loop=protocol.loop)
        self._protocol = protocol

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if result == "Pending":  # "+ <base64 JSON>": the error; NO follows our answer
            self._protocol.send("")


async def imap_oauth_login(
    client: aioimaplib.IMAP4, username: str, bearer: BearerSource
) -> aioimaplib.Response:
    """AUTHENTICATE with an access token; one retry with a fresh one. The answer says
    whether the server took it (``result == "OK"``)."""
    token = await bearer(None)
    answer = await _imap_xoauth2(client, username, token)
    if answer.result != "OK":
        answer = await _imap_xoauth2(client, username, await bearer(token))
    return answer


async def _imap_xoauth2(client: aioimaplib.IMAP4, username: str, token: str) -> aioimaplib.Response:
    blob = xoauth2_initial_response(username, token)
    command = _Xoauth2Command(client, blob)
    answer: aioimaplib.Response = await asyncio.wait_for(
        client.protocol.execute(command, scrub=blob), client.timeout
    )
    if answer.result == "OK":  # what aioimaplib's own login methods do on OK
        async with client.protocol.state_condition:
            client.protocol.state = aioimaplib.AUTH
            client.protocol.state_condition.notify_all()
    return answer
