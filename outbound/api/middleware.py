"""ASGI middleware of the apps: the request's workspace scope, security headers, audit, the
region of phone numbers written without ``+``.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``), so each request runs in the
task that received it and the scope's context variable reaches every thread
the request hands work to.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outbound.domain.phones import phone_region
from outbound.store.scope import request_scope
from outbound.store.tables import AuditEntry

_log = logging.getLogger(__name__)

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The object a call is about: the most specific id in its path, else the id it created.
_PATH_OBJECTS = (
    ("key_id", "key"),
    ("user_id", "user"),
    ("prospect_id", "prospect"),
    ("campaign_id", "campaign"),
    ("mailbox_id", "mailbox"),
    ("sms_sender_id", "sms_sender"),
)
_CREATED_OBJECTS = {
    "/campaigns": "campaign",
    "/mailboxes": "mailbox",
    "/keys": "key",
    "/sms-senders": "sms_sender",
}
_LARGEST_CREATED_ANSWER = 64 * 1024


class ScopeMiddleware:
    """Each request runs in a scope of its own (``outbound.store.scope``): undecided on the
    management app until the caller authenticates, ``system`` on the public app."""

    def __init__(self, app: ASGIApp, *, system: bool) -> None:
        self.app = app
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with request_scope(system=self.system):
            await self.app(scope, receive, send)


class PhoneRegionMiddleware:
    """Request bodies read phone numbers without ``+`` in the ``default_phone_region``
    setting's region (``outbound.domain.phones``): validation happens before any route code,
    so the region is set around the whole request."""

    def __init__(self, app: ASGIApp, *, region: str | None) -> None:
        self.app = app
        self.region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with phone_region(self.region):
            await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """No content sniffing, no framing, no referrer; ``content_security_policy`` on HTML."""

    def __init__(self, app: ASGIApp, content_security_policy: str) -> None:
        self.app = app
        self.csp = content_security_policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                additions = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if _is_html(headers) and path_is_not_docs(scope):
                    additions.append((b"content-security-policy", self.csp))
                headers += [(n, v) for n, v in additions if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def path_is_not_docs(scope: Scope) -> bool:
    """The API's own documentation page loads its script from a CDN; leave it its defaults."""
    return not str(scope.get("path", "")).startswith(("/docs", "/redoc"))


def _is_html(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)


class AuditMiddleware:
    """One ``AuditEntry`` per state-changing call of an authenticated caller, written after
    the answer: who (user and key prefix), what (method and route), which object, and the
    status code (refused calls too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _CHANGES:
            await self.app(scope, receive, send)
            return
        status = 500
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif (
                message["type"] == "http.response.body"
                and status == 201
                and len(body) < _LARGEST_CREATED_ANSWER
            ):
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            caller = scope.get("state", {}).get("caller")
            if caller is not None:
                entry = _entry(scope, caller, status, bytes(body))
                engine: Engine = scope["app"].state.engine
                try:
                    await asyncio.to_thread(_store, engine, entry)
                except Exception:  # the answer is sent; say so loudly, do not hide the call
                    _log.exception("could not record the audit entry of %s", entry.path)


def _entry(scope: Scope, caller: Any, status: int, created: bytes) -> AuditEntry:
    route = scope.get("route")
    template = route.path_format if isinstance(route, APIRoute) else scope["path"]
    params = scope.get("path_params", {})
    object_type = object_id = None
    for name, kind in _PATH_OBJECTS:
        if name in params:
            object_type, object_id = kind, str(params[name])
            break
    else:
        object_type = _CREATED_OBJECTS.get(template)
        if object_type is not None and created:
            try:
                object_id = str(json.loads(created)["id"])
            except (ValueError, KeyError, TypeError):
                object_id = None
    return AuditEntry(
        workspace_id=caller.workspace_id,
        user_id=caller.user_id,
        key_prefix=caller.key_prefix,
        method=scope["method"],
        route=template,
        path=scope["path"][:500],
        object_type=object_type,
        object_id=object_id,
        status_code=status,
    )


def _store(engine: Engine, entry: AuditEntry) -> None:
    with Session(engine) as session:
        session.add(entry)
        session.commit()
