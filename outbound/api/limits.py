"""Requests are bounded before they are read: body size, and how deep a JSON body nests.

:class:`RequestLimits` is plain ASGI middleware, so it sees the body as the
server streams it, before any route (or FastAPI's body parsing) does:

* a ``Content-Length`` over the route's limit is refused (413) at once,
  without reading anything;
* otherwise the body is counted as it arrives, and the first chunk past the
  limit ends it: the middleware answers 413 itself, tells the application the
  client went away, and drops whatever the application still tries to send;
* a JSON body (one FastAPI would parse as JSON: ``application/json``,
  ``…+json``, or no content type; up to its limit) is parsed once here and
  refused (422) when it nests deeper than :data:`MAX_JSON_DEPTH` — Python's
  parser would otherwise meet its recursion limit inside FastAPI, whose answer
  is not in our error shape.

Every refusal has the one error shape (``{"detail": [{"field", "reason"}]}``).
One limit (:data:`DEFAULT_LIMIT`) holds for every route but those listed in
:data:`ROUTE_LIMITS`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KiB = 1024
MiB = 1024 * KiB
DEFAULT_LIMIT = 1 * MiB
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class RouteLimit:
    """A larger body limit for the requests whose method and path match."""

    method: str
    path: re.Pattern[str]
    limit: int
    what: str


ROUTE_LIMITS = (
    RouteLimit("POST", re.compile(r"^/campaigns/[^/]+/prospects/csv$"), 20 * MiB, "a CSV upload"),
    RouteLimit("POST", re.compile(r"^/campaigns/[^/]+/prospects$"), 10 * MiB, "a prospect list"),
    RouteLimit("POST", re.compile(r"^/inbound/[^/]+$"), 25 * MiB, "an inbound message"),
    # Twilio's webhooks are a few hundred bytes (a 1,600-character text at most).
    RouteLimit("POST", re.compile(r"^/sms/"), 64 * KiB, "an SMS webhook"),
)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_INNERMOST = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class RequestLimits:
    """ASGI middleware bounding request bodies (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        default_limit: int = DEFAULT_LIMIT,
        routes: tuple[RouteLimit, ...] = ROUTE_LIMITS,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.routes = routes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self._limit_for(scope)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            await _refuse(send, 413, "body", _too_large(what, limit))
            return
        if _parsed_as_json(headers.get(b"content-type")):
            await self._json(scope, receive, send, limit, what)
            return
        await self._streamed(scope, receive, send, limit, what)

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        for route in self.routes:
            if scope["method"] == route.method and route.path.match(scope["path"]):
                return route.limit, route.what
        return self.default_limit, "a request body"

    async def _streamed(
        self, scope: Scope, receive: Receive, send: Send, limit: int, what: str
    ) -> None:
        """Pass the body through as it comes, counted; past the limit, answer 413 ourselves."""
        seen = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await _refuse(send, 413, "body", _too_large(what, limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # we answered already; the application's answer is dropped
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise

    async def _json(
        self, scope: Scope, receive: Receive, send: Send, limit: int, what: str
    ) -> None:
        """Read the whole (bounded) body, check its nesting, then hand it on."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _refuse(send, 413, "body", _too_large(what, limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if body.count(b"[") + body.count(b"{") > self.max_json_depth:
            too_deep = await asyncio.to_thread(_nests_deeper, body, self.max_json_depth)
            if too_deep:
                reason = f"JSON nested deeper than {self.max_json_depth} levels"
                await _refuse(send, 422, "body", reason)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # only a disconnect can come now
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _nests_deeper(body: bytes, depth: int) -> bool:
    """Whether valid JSON ``body`` nests deeper than ``depth`` (invalid JSON: False, the
    application's parser refuses it). Strings are dropped, then the innermost bracket pairs
    are removed ``depth`` times: anything left was deeper. All at C speed."""
    try:
        json.loads(body)
    except RecursionError:
        return True
    except ValueError:
        return False
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(depth):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not brackets:
            return False
        if not removed:
            return False  # unbalanced: cannot be valid JSON after all
    return bool(brackets)


def _parsed_as_json(content_type: bytes | None) -> bool:
    """Whether FastAPI would parse the body as JSON: no content type at all, or
    ``application/json`` or ``application/…+json``."""
    if content_type is None:
        return True
    kind = content_type.split(b";")[0].strip().lower()
    return kind == b"application/json" or (
        kind.startswith(b"application/") and kind.endswith(b"+json")
    )


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _too_large(what: str, limit: int) -> str:
    if limit < MiB:
        return f"{what} may be at most {limit // KiB} KiB ({limit:,} bytes)"
    return f"{what} may be at most {limit // MiB} MiB ({limit:,} bytes)"


async def _refuse(send: Send, status: int, field: str, reason: str) -> None:
    body = json.dumps({"detail": [{"field": field, "reason": reason}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
