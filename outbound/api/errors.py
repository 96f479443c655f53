"""Error answers: always the field and the reason, never the submitted value.

FastAPI's default 422 echoes the input back, which would include a mailbox
password; this handler reports only where and why.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from outbound.domain.problems import Problem, ProblemError, ProblemResponse

LARGEST_INTEGER = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's BIGINT


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(item) for item in error.errors()]
        return JSONResponse(
            status_code=422, content=ProblemResponse(detail=problems).model_dump(exclude_none=True)
        )

    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, _error: OverflowError) -> JSONResponse:
        """A number too large for the database (an id of 2**70, say) reaches SQLite or
        PostgreSQL only as it is used; answer 422 naming it instead of 500."""
        problem = Problem(
            field=_oversized_field(request),
            reason=f"number out of range (at most {LARGEST_INTEGER})",
        )
        return JSONResponse(
            status_code=422, content=ProblemResponse(detail=[problem]).model_dump(exclude_none=True)
        )

    @app.exception_handler(ProblemError)
    async def _problem_error(_request: Request, error: ProblemError) -> JSONResponse:
        return JSONResponse(
            status_code=error.status,
            content=ProblemResponse(detail=error.problems).model_dump(exclude_none=True),
            headers=error.headers,
        )


def _oversized_field(request: Request) -> str:
    """The path or query parameter holding the too-large number, else the body."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        with contextlib.suppress(ValueError, TypeError):
            if abs(int(value)) > LARGEST_INTEGER:
                return str(name)
    return "body"


def _problem(item: Any) -> Problem:
    reason = str(item.get("msg", "invalid"))
    reason = reason.removeprefix("Value error, ")
    return Problem(field=field_path(item.get("loc", ())), reason=reason)
