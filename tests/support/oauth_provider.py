"""A local OAuth 2.0 / OpenID Connect authorization server: Google's or Microsoft's part in tests.

Outbound connects mailboxes with OAuth (code flow with PKCE, refresh tokens, XOAUTH2 and
OAUTHBEARER at the mail servers). Mocking the HTTP calls would only test our reading of the
specifications against itself; this server is built from Authlib's server side instead, so
the product's client meets an independent implementation of the same RFCs, on a real socket:

* ``GET /authorize`` (RFC 6749 code flow, RFC 7636 PKCE with S256 required, OpenID nonce).
  There is no consent screen: it approves at once as the account named by ``login_hint``.
* ``POST /token``: ``authorization_code`` and ``refresh_token`` grants, client auth by
  ``client_secret_post`` or ``client_secret_basic``; an RS256 ``id_token`` (keys at ``/jwks``).
* ``POST /revoke`` (RFC 7009) and ``POST /introspect`` (RFC 7662). The SMTP server of
  :mod:`tests.support.oauth_smtp` and dovecot (:mod:`tests.support.imap_server`) check
  bearer tokens there with the resource client's credentials, as Gmail's servers ask Google.

Where the providers differ or misbehave, switches on :class:`OAuthTestProvider` make it do
so: rotating refresh tokens (Microsoft), an outage of the token endpoint, a refused consent,
the user removing the app's access, short-lived access tokens.

Storage is in memory: the server stands in for Google, not for our store. Expiry follows the
wall clock (tests that need an expired token set ``access_token_seconds`` to a second or so).

Use it through the ``oauth_provider`` fixture (import it into a conftest or test module as
:mod:`tests.support.imap_server` explains for its fixtures), or ``running_oauth_provider()``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

APP_CLIENT_ID = "outbound-test-client"
RESOURCE_CLIENT_ID = "outbound-test-mail-servers"
DEFAULT_SCOPE = "openid email https://mail.google.com/"
AUTHORIZATION_CODE_SECONDS = 60  # RFC 6749 recommends at most 10 minutes; Google's are short
ID_TOKEN_SECONDS = 3600
REVOKED = "Token has been expired or revoked."  # Google's words for an unusable refresh token
_CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class _Account:
    email: str
    sub: str  # stable per account, as an id_token's subject is


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    """A registered client: Outbound's app, or the mail servers' resource client."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]  # the provider's own list: tests append to it
    grant_types: tuple[str, ...]
    endpoints: tuple[str, ...]  # where it may authenticate ("token", "revocation", ...)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or DEFAULT_SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint in self.endpoints and method in _CLIENT_AUTH

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    email: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.issued_at

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + AUTHORIZATION_CODE_SECONDS


@dataclass
class _Token(TokenMixin):  # type: ignore[misc]
    """One access or refresh token. ``grant_id`` ties together everything one consent issued."""

    value: str
    kind: str  # "access" or "refresh"
    client_id: str
    email: str
    scope: str
    grant_id: str
    expires_at: float | None  # None: a refresh token, valid until revoked
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0 if self.expires_at is None else max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


class OAuthTestProvider:
    """A running authorization server; every attribute may be changed by a test at any time.

    Example::

        with running_oauth_provider() as provider:
            provider.add_account("ada@mail.example.com")
            provider.redirect_uris.append("http://127.0.0.1:8000/oauth/callback")
            ...  # the code flow with login_hint=ada@mail.example.com
            provider.revoke_consent("ada@mail.example.com")  # every token of Ada's stops working

    Only access tokens introspect as active (like Google's tokeninfo): a refresh token used as
    a bearer token is refused by the mail servers.
    """

    def __init__(self) -> None:
        self.client_id = APP_CLIENT_ID
        self.client_secret = secrets.token_urlsafe(24)
        self.resource_client_id = RESOURCE_CLIENT_ID
        self.resource_client_secret = secrets.token_urlsafe(24)
        self.redirect_uris: list[str] = []
        self.access_token_seconds = 3600  # for tokens issued afterwards
        self.rotate_refresh_tokens = False  # Microsoft: each refresh retires the old token
        self.token_endpoint_down = False  # /token answers 503 temporarily_unavailable
        self.deny_consent = False  # /authorize redirects back with error=access_denied
        self.code_grants = 0
        self.refresh_grants = 0
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}  # in issue order
        self._key = _signing_key()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, _app(self), threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread: threading.Thread | None = None
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self.issuer = self.base_url
        self.authorize_url = self.base_url + "/authorize"
        self.token_url = self.base_url + "/token"
        self.revoke_url = self.base_url + "/revoke"
        self.introspect_url = self.base_url + "/introspect"
        self.jwks_url = self.base_url + "/jwks"
        self.openid_configuration_url = self.base_url + "/.well-known/openid-configuration"

    def start(self) -> None:
        """Serve requests in a daemon thread (the socket is bound already)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait
            name="oauth-provider",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    # --- what a test does as the outside world

    def add_account(self, email: str) -> None:
        """An account that can sign in and consent (``login_hint`` names it)."""
        with self._lock:
            self._accounts.setdefault(email.lower(), _Account(email, uuid.uuid4().hex))

    def revoke_consent(self, email: str) -> None:
        """The user removes the app's access in their account page: every refresh and access
        token of that account stops working at once."""
        with self._lock:
            for token in self._tokens.values():
                if token.email.lower() == email.lower():
                    token.revoked = True

    def is_active(self, access_token: str) -> bool:
        """Whether ``access_token`` would be accepted now by a mail server."""
        token = self._tokens.get(access_token)
        return (
            token is not None
            and token.kind == "access"
            and not token.is_expired()
            and not token.revoked
        )

    def issued_refresh_tokens(self) -> list[str]:
        """Every refresh token ever issued, oldest first (to grep logs and histories for)."""
        with self._lock:
            return [t.value for t in self._tokens.values() if t.kind == "refresh"]

    def issued_access_tokens(self) -> list[str]:
        """Every access token ever issued, oldest first."""
        with self._lock:
            return [t.value for t in self._tokens.values() if t.kind == "access"]

    def subject(self, email: str) -> str:
        """The ``sub`` the account's id_tokens and introspection answers carry."""
        return self._accounts[email.lower()].sub

    # --- used by the Authlib glue below

    def _account(self, email: str | None) -> _Account | None:
        return self._accounts.get((email or "").lower())

    def _client(self, client_id: str) -> _Client | None:
        if client_id == self.client_id:
            return _Client(
                self.client_id,
                self.client_secret,
                self.redirect_uris,
                ("authorization_code", "refresh_token"),
                ("token", "revocation", "introspection"),
            )
        if client_id == self.resource_client_id:
            return _Client(
                self.resource_client_id, self.resource_client_secret, [], (), ("introspection",)
            )
        return None

    def _save_code(self, code: _Code) -> None:
        with self._lock:
            self._codes[code.code] = code

    def _take_code(self, code: str, client: _Client) -> _Code | None:
        found = self._codes.get(code)
        if found is None or found.client_id != client.client_id or found.is_expired():
            return None
        return found

    def _delete_code(self, code: _Code) -> None:
        with self._lock:
            self._codes.pop(code.code, None)

    def _save_token(
        self, token: dict[str, Any], grant_type: str, email: str, grant_id: str
    ) -> None:
        expires_at = time.time() + int(token.get("expires_in") or self.access_token_seconds)
        scope = str(token.get("scope", ""))
        with self._lock:
            access = token["access_token"]
            self._tokens[access] = _Token(
                access, "access", self.client_id, email, scope, grant_id, expires_at
            )
            if "refresh_token" in token:
                refresh = token["refresh_token"]
                self._tokens[refresh] = _Token(
                    refresh, "refresh", self.client_id, email, scope, grant_id, None
                )
            if grant_type == "authorization_code":
                self.code_grants += 1
            else:
                self.refresh_grants += 1

    def _usable_refresh_token(self, value: str) -> _Token | None:
        token = self._tokens.get(value)
        if token is None or token.kind != "refresh" or token.revoked:
            return None
        return token

    def _revoke_grant(self, grant_id: str) -> None:
        """Revoking one token of a consent revokes all of it (Google's behaviour)."""
        with self._lock:
            for token in self._tokens.values():
                if token.grant_id == grant_id:
                    token.revoked = True

    def _jwks(self) -> dict[str, Any]:
        return KeySet([self._key]).as_dict(private=False)


@pytest.fixture
def oauth_provider() -> Iterator[OAuthTestProvider]:
    """A started provider of the test's own (accounts: none until ``add_account``)."""
    with running_oauth_provider() as provider:
        yield provider


@contextlib.contextmanager
def running_oauth_provider() -> Iterator[OAuthTestProvider]:
    """Start a provider; stopped afterwards."""
    provider = OAuthTestProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@functools.cache
def _signing_key() -> RSAKey:
    """The id_tokens' RS256 key: one per test run (generating one per test costs 30 ms)."""
    return RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:16]})


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log lines on stderr for every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server(AuthorizationServer):  # type: ignore[misc]
    """Authlib's Flask server, knowing the provider its grants and endpoints store into."""

    def __init__(self, app: Flask, provider: OAuthTestProvider) -> None:
        self.provider = provider
        super().__init__(app, query_client=provider._client, save_token=self._store_token)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(32),
                refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(32),
                expires_generator=lambda _client, _grant_type: provider.access_token_seconds,
            ),
        )

    def _store_token(self, token: dict[str, Any], oauth_request: Any) -> None:
        previous = getattr(oauth_request, "refresh_token", None)
        grant_id = previous.grant_id if isinstance(previous, _Token) else uuid.uuid4().hex
        grant_type = str(oauth_request.payload.grant_type)
        self.provider._save_token(token, grant_type, oauth_request.user.email, grant_id)


def _provider(grant: Any) -> OAuthTestProvider:
    provider: OAuthTestProvider = grant.server.provider
    return provider


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH

    def save_authorization_code(self, code: str, oauth_request: Any) -> None:
        data = oauth_request.payload.data
        _provider(self)._save_code(
            _Code(
                code=code,
                client_id=oauth_request.client.client_id,
                redirect_uri=oauth_request.payload.redirect_uri,
                scope=oauth_request.payload.scope or DEFAULT_SCOPE,
                email=oauth_request.user.email,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )
        )

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        return _provider(self)._take_code(code, client)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        _provider(self)._delete_code(authorization_code)

    def authenticate_user(self, authorization_code: _Code) -> _Account | None:
        return _provider(self)._account(authorization_code.email)


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH

    def authenticate_refresh_token(self, refresh_token: str) -> _Token:
        token = _provider(self)._usable_refresh_token(refresh_token)
        if token is None:
            raise InvalidGrantError(REVOKED)
        return token

    def authenticate_user(self, refresh_token: _Token) -> _Account | None:
        return _provider(self)._account(refresh_token.email)

    def issue_token(self, user: _Account, refresh_token: _Token) -> dict[str, Any]:
        self.rotating = _provider(self).rotate_refresh_tokens
        token: dict[str, Any] = self.generate_token(
            user=user,
            scope=self.request.payload.scope or refresh_token.get_scope(),
            include_refresh_token=self.rotating,
        )
        return token

    def revoke_old_credential(self, refresh_token: _Token) -> None:
        if self.rotating:
            refresh_token.revoked = True


class _S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE is mandatory here, and only with S256 (``plain`` is refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.")
        super().validate_code_challenge(grant, redirect_uri)


class _IdToken(OpenIDCode):  # type: ignore[misc]
    """The ``id_token`` of the code flow: RS256, signed with the key published at /jwks."""

    def __init__(self, provider: OAuthTestProvider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, _nonce: str, _request: Any) -> bool:
        """Never refused as a replay: Google leaves checking the nonce to the client."""
        return False

    def resolve_client_private_key(self, _client: _Client) -> RSAKey:
        return self.provider._key

    def get_client_algorithm(self, _client: _Client) -> str:
        return "RS256"

    def get_encode_header(self, _client: _Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": str(self.provider._key.kid), "typ": "JWT"}

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.provider.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def generate_user_info(self, user: _Account, _scope: str) -> dict[str, Any]:
        return {"sub": user.sub, "email": user.email, "email_verified": True}


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = _CLIENT_AUTH

    def query_token(self, token_string: str, _token_type_hint: str | None) -> _Token | None:
        return self.server.provider._tokens.get(token_string)  # type: ignore[no-any-return]

    def revoke_token(self, token: _Token, _request: Any) -> None:
        self.server.provider._revoke_grant(token.grant_id)


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string: str, _token_type_hint: str | None) -> _Token | None:
        token = self.server.provider._tokens.get(token_string)
        return token if token is not None and token.kind == "access" else None

    def check_permission(self, _token: _Token, client: _Client, _request: Any) -> bool:
        provider: OAuthTestProvider = self.server.provider
        return client.client_id in (provider.resource_client_id, provider.client_id)

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        return {
            "active": True,
            "email": token.email,
            "username": token.email,
            "sub": self.server.provider.subject(token.email),
            "scope": token.scope,
            "client_id": token.client_id,
            "exp": int(token.expires_at or 0),
            "token_type": "Bearer",
        }


def _app(provider: OAuthTestProvider) -> Flask:
    """The Flask application with the provider's endpoints."""
    app = Flask("oauth_test_provider")
    server = _Server(app, provider)
    server.register_grant(_CodeGrant, [_S256Required(), _IdToken(provider)])
    server.register_grant(_RefreshGrant)
    server.register_endpoint(_Revocation)
    server.register_endpoint(_Introspection)

    @app.get("/authorize")
    def authorize() -> Response:
        return _authorize(server, provider)

    @app.post("/token")
    def token() -> Response:
        if provider.token_endpoint_down:
            body = {"error": "temporarily_unavailable", "error_description": "Try again later."}
            return Response(json.dumps(body), status=503, content_type="application/json")
        response: Response = server.create_token_response()
        return response

    @app.post("/revoke")
    def revoke() -> Response:
        response: Response = server.create_endpoint_response(_Revocation.ENDPOINT_NAME)
        return response

    @app.post("/introspect")
    def introspect() -> Response:
        response: Response = server.create_endpoint_response(_Introspection.ENDPOINT_NAME)
        return response

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(provider._jwks())

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        return jsonify(_discovery(provider))

    return app


def _authorize(server: _Server, provider: OAuthTestProvider) -> Response:
    """Approve at once as the ``login_hint`` account, or redirect back with access_denied."""
    account = provider._account(request.args.get("login_hint"))
    try:
        grant = server.get_consent_grant(end_user=account)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)  # type: ignore[no-any-return]
    refusal = None
    if provider.deny_consent:
        refusal = "The user refused to give the app access."
    elif account is None:
        refusal = f"No account {request.args.get('login_hint')!r} can sign in here."
    if refusal is not None:
        error = AccessDeniedError(description=refusal, redirect_uri=grant.redirect_uri)
        error.state = request.args.get("state")
        return server.handle_error_response(None, error)  # type: ignore[no-any-return]
    response: Response = server.create_authorization_response(grant_user=account, grant=grant)
    return response


def _discovery(provider: OAuthTestProvider) -> dict[str, Any]:
    """OpenID Provider metadata (what OAUTHBEARER's error points clients to)."""
    return {
        "issuer": provider.issuer,
        "authorization_endpoint": provider.authorize_url,
        "token_endpoint": provider.token_url,
        "revocation_endpoint": provider.revoke_url,
        "introspection_endpoint": provider.introspect_url,
        "jwks_uri": provider.jwks_url,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": _CLIENT_AUTH,
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "scopes_supported": DEFAULT_SCOPE.split(),
    }
