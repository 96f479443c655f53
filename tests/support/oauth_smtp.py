"""An SMTP submission server that takes OAuth bearer tokens only, as Gmail's and Outlook's do.

A mailbox connected with OAuth logs in to SMTP with ``AUTH XOAUTH2`` (Google's and
Microsoft's mechanism) or ``AUTH OAUTHBEARER`` (RFC 7628), never with a password. This
server is the plain aiosmtpd sink with those two mechanisms added the way aiosmtpd
documents (``auth_<MECHANISM>`` methods on the server class), PLAIN and LOGIN taken away,
and AUTH required before MAIL (530 otherwise). Each token is checked by asking the
provider's RFC 7662 introspection endpoint with the resource client's credentials, so
revoking consent at :class:`~tests.support.oauth_provider.OAuthTestProvider` makes the very
next login fail, and an expired token fails like at Google: a ``334`` error challenge
(base64 JSON), the client's empty answer, then ``535 5.7.8``.

Messages go to any aiosmtpd handler (``SinkHandler``, ``FaultSinkHandler``)::

    controller = start_oauth_sink(provider, FaultSinkHandler())
    try:
        ...  # connect to 127.0.0.1:controller.port
        assert controller.oauth_log[-1].accepted
    finally:
        controller.stop()

``controller.oauth_log`` lists every AUTH attempt in order, as :class:`OAuthAttempt`
``(mechanism, user, token, accepted)`` tuples (a handler's own authenticator, such as
``FaultSinkHandler.authenticate``, is not consulted, so its ``logins`` stay empty).
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterable
from typing import Any, NamedTuple

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from tests.support.oauth_provider import OAuthTestProvider

MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
GMAIL_SCOPE = "https://mail.google.com/"
ACCEPTED = "235 2.7.0 Accepted"
REFUSED = (
    "535 5.7.8 Username and Password not accepted. For more information, go to "
    "https://support.google.com/mail/?p=BadCredentials"
)
PROVIDER_UNREACHABLE = "454 4.7.0 Temporary authentication failure"


class OAuthAttempt(NamedTuple):
    """One AUTH attempt as the server saw it."""

    mechanism: str  # "XOAUTH2" or "OAUTHBEARER"
    user: str  # the user= (XOAUTH2) or a= (OAUTHBEARER) the client sent
    token: str  # the bearer token the client sent
    accepted: bool


class OAuthSinkController(Controller):  # type: ignore[misc]
    """aiosmtpd's controller serving :class:`OAuthSMTP` sessions; ``oauth_log`` is shared."""

    def __init__(
        self, handler: Any, provider: OAuthTestProvider, mechanisms: Iterable[str], **kwargs: Any
    ) -> None:
        self.provider = provider
        self.mechanisms = tuple(m.upper() for m in mechanisms)
        self.oauth_log: list[OAuthAttempt] = []
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        """One server per connection, offering only ``mechanisms``."""
        return OAuthSMTP(
            self.handler,
            provider=self.provider,
            oauth_log=self.oauth_log,
            auth_exclude_mechanism=["PLAIN", "LOGIN"]
            + [m for m in MECHANISMS if m not in self.mechanisms],
            **self.SMTP_kwargs,
        )


class OAuthSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's SMTP with the XOAUTH2 and OAUTHBEARER mechanisms."""

    def __init__(
        self,
        handler: Any,
        *,
        provider: OAuthTestProvider,
        oauth_log: list[OAuthAttempt],
        **kwargs: Any,
    ) -> None:
        self.provider = provider
        self.oauth_log = oauth_log
        # aiosmtpd warns on every connection that AUTH without TLS is insecure: on loopback in
        # a test that is the point, so the requirement is switched on after its check.
        auth_required = kwargs.pop("auth_required", True)
        super().__init__(handler, auth_required=False, **kwargs)
        self._auth_required = auth_required

    async def auth_XOAUTH2(self, _server: SMTP, args: list[str]) -> AuthResult:
        """``user=U\\x01auth=Bearer T\\x01\\x01``; the initial response may come after a 334."""
        blob = await self._initial_response(args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        fields = _fields(blob.split(b"\x01"))
        user, token = fields.get("user", ""), _bearer(fields.get("auth", ""))
        challenge = {"status": "401", "schemes": "bearer", "scope": GMAIL_SCOPE}
        return await self._check("XOAUTH2", user, token, challenge)

    async def auth_OAUTHBEARER(self, _server: SMTP, args: list[str]) -> AuthResult:
        """RFC 7628: ``n,a=U,\\x01host=H\\x01port=P\\x01auth=Bearer T\\x01\\x01``."""
        blob = await self._initial_response(args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        gs2_header, *rest = blob.split(b"\x01")
        user = _gs2_authzid(gs2_header.decode(errors="replace"))
        token = _bearer(_fields(rest).get("auth", ""))
        challenge = {
            "status": "invalid_token",
            "scope": GMAIL_SCOPE,
            "openid-configuration": self.provider.openid_configuration_url,
        }
        return await self._check("OAUTHBEARER", user, token, challenge)

    async def _initial_response(self, args: list[str]) -> bytes | None:
        """The client's first message: inline after the mechanism, or asked for with ``334 ``.

        None when it could not be read (the error reply is sent already).
        """
        if len(args) == 1:
            answer = await self.challenge_auth("")
            return None if answer is MISSING else bytes(answer)
        try:
            return base64.b64decode(args[1], validate=True)
        except ValueError:
            await self.push("501 5.5.2 Can't decode base64")
            return None

    async def _check(
        self, mechanism: str, user: str, token: str, challenge: dict[str, str]
    ) -> AuthResult:
        """Accept an active token of ``user``; otherwise the error challenge, then 535."""
        try:
            accepted = await _token_belongs_to(self.provider, token, user)
        except httpx.HTTPError:
            self.oauth_log.append(OAuthAttempt(mechanism, user, token, False))
            return AuthResult(success=False, handled=False, message=PROVIDER_UNREACHABLE)
        self.oauth_log.append(OAuthAttempt(mechanism, user, token, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user, message=ACCEPTED)
        # The client answers the challenge with an empty line (XOAUTH2) or ^A (OAUTHBEARER);
        # what it says does not matter, the login fails either way.
        answer = await self.challenge_auth(json.dumps(challenge, separators=(",", ":")))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)  # "*" or bad base64: answered
        return AuthResult(success=False, handled=False, message=REFUSED)


def start_oauth_sink(
    provider: OAuthTestProvider, handler: Any, *, mechanisms: Iterable[str] = MECHANISMS
) -> OAuthSinkController:
    """Start the server on a free loopback port (``.port``); call ``.stop()`` afterwards."""
    controller = OAuthSinkController(
        handler,
        provider,
        mechanisms,
        hostname="127.0.0.1",
        port=_free_port(),
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    return controller


async def _token_belongs_to(provider: OAuthTestProvider, token: str, user: str) -> bool:
    """Ask the provider (RFC 7662) whether ``token`` is active and issued for ``user``."""
    if not token:
        return False
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            provider.introspect_url,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(provider.resource_client_id, provider.resource_client_secret),
        )
    response.raise_for_status()
    answer = response.json()
    email = str(answer.get("email", ""))
    return answer.get("active") is True and email.lower() == user.lower()


def _fields(parts: Iterable[bytes]) -> dict[str, str]:
    """``key=value`` parts of a SASL message (empty parts are the terminators)."""
    found = {}
    for part in parts:
        key, sep, value = part.decode(errors="replace").partition("=")
        if sep:
            found[key] = value
    return found


def _bearer(auth: str) -> str:
    """The token out of ``Bearer <token>`` (the scheme is case-insensitive)."""
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _gs2_authzid(header: str) -> str:
    """The ``a=`` user of a GS2 header such as ``n,a=ada@mail.example.com,`` (RFC 5801)."""
    for part in header.split(","):
        if part.startswith("a="):
            return part[2:].replace("=2C", ",").replace("=3D", "=")
    return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
