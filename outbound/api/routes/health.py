"""``GET /healthz``: the process is up and answering (docker-compose's health checks).

Served by both apps without a key: it says nothing about any workspace.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = "ok"


@router.get("/healthz")
def healthz() -> Health:
    """Up: the process answers requests."""
    return Health()
