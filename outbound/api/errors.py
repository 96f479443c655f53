"""Error answers: always the field and the reason, never the submitted value.

FastAPI's default 422 echoes the input back, which would include a mailbox
password; this handler reports only where and why.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from outbound.domain.problems import Problem, ProblemError, ProblemResponse


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

    @app.exception_handler(ProblemError)
    async def _problem_error(_request: Request, error: ProblemError) -> JSONResponse:
        return JSONResponse(
            status_code=error.status,
            content=ProblemResponse(detail=error.problems).model_dump(exclude_none=True),
        )


def _problem(item: Any) -> Problem:
    reason = str(item.get("msg", "invalid"))
    reason = reason.removeprefix("Value error, ")
    return Problem(field=field_path(item.get("loc", ())), reason=reason)
