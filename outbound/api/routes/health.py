"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can do its work: the database
answers ``SELECT 1`` and Temporal answers its health check); docker-compose's health checks
use ``/readyz``.

Served by both apps without a key: they say nothing about any workspace, and a failure
names only the part (``database``, ``temporal``) and the error's class, never a URL or
its password.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Engine, text

from outbound.domain.problems import Problem, ProblemError

router = APIRouter(tags=["health"])

CHECK_SECONDS = 3.0  # each part must answer within this


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = "ready"
    database: str = "ok"
    temporal: str = "ok"


@router.get("/healthz")
def healthz() -> Health:
    """Up: the process answers requests."""
    return Health()


@router.get("/readyz", responses={503: {"description": "A part did not answer; it is named."}})
async def readyz(request: Request) -> Readiness:
    """Ready: the database answers ``SELECT 1`` and Temporal its health check, each within
    3 seconds; otherwise 503 naming the part (``database``, ``temporal``) that did not."""
    problems = [
        problem
        for problem in await asyncio.gather(
            _database(request.app.state.engine), _temporal(request.app.state.temporal)
        )
        if problem is not None
    ]
    if problems:
        raise ProblemError(503, problems)
    return Readiness()


async def _database(engine: Engine | None) -> Problem | None:
    if engine is None:
        return Problem(field="database", reason="no database engine yet")
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await asyncio.to_thread(_select_one, engine)
    except Exception as error:  # any failure means not ready; only its class is shown
        return Problem(field="database", reason=f"SELECT 1 failed ({type(error).__name__})")
    return None


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


async def _temporal(client: object) -> Problem | None:
    if client is None:
        return Problem(field="temporal", reason="no Temporal client yet")
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            healthy = await client.service_client.check_health()  # type: ignore[attr-defined]
    except Exception as error:  # any failure means not ready; only its class is shown
        return Problem(field="temporal", reason=f"health check failed ({type(error).__name__})")
    if not healthy:
        return Problem(field="temporal", reason="the frontend reports itself not serving")
    return None
