"""Error answers: always the field and the reason, never the submitted value.

Every 4xx has one shape, ``{"detail": [{"field": ..., "reason": ...}]}``: our
own refusals (ProblemError), request validation, a body that is not JSON (or
not UTF-8, or nested too deeply), and the router's 404 and 405. FastAPI's
default 422 echoes the input back, which would include a mailbox password;
these handlers report only where and why.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from outbound.domain.problems import FieldProblem, Problem, ProblemError, ProblemResponse

LARGEST_INTEGER = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's BIGINT
_PARSE_FAILED = "There was an error parsing the body"  # FastAPI's words for a body it cannot read


def field_path(location: tuple[int | str, ...] | list[int | str]) -> str:
    """('body', 'steps', 0, 'subject') → 'steps[0].subject'."""
    path = ""
    for part in location:
        if part in ("body", "query", "path") and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def answer(
    status: int, problems: list[Problem], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one shape of every 4xx."""
    content = ProblemResponse(detail=problems).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=content, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return answer(422, [_problem(item, error.body) for item in error.errors()])

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        """The router's 404 and 405, and FastAPI's 400 for a body it could not parse."""
        return answer(error.status_code, [_http_problem(request, error)], error.headers)

    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, _error: OverflowError) -> JSONResponse:
        """A number too large for the database (an id of 2**70, say) reaches SQLite or
        PostgreSQL only as it is used; answer 422 naming it instead of 500."""
        problem = Problem(
            field=await _oversized_field(request),
            reason=f"number out of range (at most {LARGEST_INTEGER})",
        )
        return answer(422, [problem])

    @app.exception_handler(ProblemError)
    async def _problem_error(_request: Request, error: ProblemError) -> JSONResponse:
        return answer(error.status, error.problems, error.headers)


def _problem(item: Any, body: Any) -> Problem:
    """One validation error as the field and a reason a person can act on."""
    location = tuple(item.get("loc", ()))
    kind = item.get("type", "")
    context = item.get("ctx") or {}
    reason = str(item.get("msg", "invalid")).removeprefix("Value error, ")
    cause = context.get("error")
    if isinstance(cause, FieldProblem):  # a model-level check naming its field
        location, reason = (*location, cause.field), cause.reason
    elif kind == "json_invalid":
        return Problem(field="body", reason=_json_reason(str(cause), location, body))
    elif kind in ("too_long", "too_short") and isinstance(item.get("input"), str):
        # A constrained string behind a validator is measured generically ("200 items").
        bound = context.get("max_length", context.get("min_length"))
        most = "most" if kind == "too_long" else "least"
        reason = f"String should have at {most} {bound} character{'s' if bound != 1 else ''}"
    elif location == ("body",) and kind == "missing":
        reason = "a JSON body is required"
    elif location == ("body",) and kind in ("model_attributes_type", "dict_type"):
        reason = "the body must be a JSON object, sent as content-type application/json"
    return Problem(field=field_path(location), reason=reason)


def _json_reason(what: str, location: tuple[Any, ...], body: Any) -> str:
    """'not valid JSON: Expecting value at line 1, column 19', from the decoder's position."""
    position = location[-1] if location and isinstance(location[-1], int) else None
    if position is None or not isinstance(body, str):
        return f"not valid JSON: {what}"
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    return f"not valid JSON: {what} at line {line}, column {column}"


def _http_problem(request: Request, error: HTTPException) -> Problem:
    if error.status_code == 404:
        return Problem(field="path", reason=f"nothing is at {request.url.path}")
    if error.status_code == 405:
        allowed = ", ".join(_methods_at(request))
        also = f"; it answers {allowed}" if allowed else ""
        return Problem(
            field="method", reason=f"{request.method} is not allowed on {request.url.path}{also}"
        )
    if error.status_code == 400 and error.detail == _PARSE_FAILED:
        return Problem(field="body", reason=_unreadable_body(error.__cause__))
    return Problem(field="request", reason=str(error.detail))


def _methods_at(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette's Allow header names the
    first matching route's only)."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]


def _unreadable_body(cause: BaseException | None) -> str:
    """Why FastAPI could not read the body, in words (it says only that it could not)."""
    if isinstance(cause, UnicodeDecodeError):
        return (
            f"not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} at position {cause.start}); "
            "JSON bodies are UTF-8"
        )
    if isinstance(cause, RecursionError):
        return "JSON nested too deeply (arrays and objects inside each other)"
    if cause is not None and str(cause):
        return f"the body could not be read: {cause}"
    return "the body could not be read"


async def _oversized_field(request: Request) -> str:
    """The path or query parameter, or the JSON body's field, holding the too-large number."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        with contextlib.suppress(ValueError, TypeError):
            if abs(int(value)) > LARGEST_INTEGER:
                return str(name)
    if not hasattr(request, "_body"):  # the body was never read: do not wait for it here
        return "body"
    with contextlib.suppress(ValueError, RecursionError):
        found = _find_oversized(json.loads(await request.body()), ())
        if found is not None:
            return field_path(found)
    return "body"


def _find_oversized(value: Any, location: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return location if abs(value) > LARGEST_INTEGER else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _find_oversized(item, (*location, key))
        if found is not None:
            return found
    return None
