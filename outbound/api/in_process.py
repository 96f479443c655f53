"""Both apps in this process, reached over ASGI: how tests, benchmarks and drills call the API.

Usage::

    async with in_process_clients(settings, engine, temporal) as clients:
        await clients.api.post("/mailboxes", json=...)      # as the new workspace's admin
        await clients.public.get("/track/open/<token>")      # as a recipient
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from temporalio.client import Client

from outbound.accounts.members import create_workspace
from outbound.api.app import create_app, create_public_app
from outbound.settings import Settings


@dataclass(frozen=True)
class InProcessClients:
    """The management API (with an admin key) and the public app."""

    api: httpx.AsyncClient
    public: httpx.AsyncClient
    api_key: str
    workspace_id: int


@asynccontextmanager
async def in_process_clients(
    settings: Settings,
    engine: Engine,
    temporal: Client | None,
    *,
    workspace: str = "local",
    admin_email: str = "admin@outbound.example",
    raise_app_exceptions: bool = True,
) -> AsyncIterator[InProcessClients]:
    """A new workspace and its admin's key, and clients of both apps on ``engine``."""
    workspace_id, key = create_workspace(engine, workspace, admin_email, "Admin")
    management = create_app(settings, engine=engine, temporal=temporal)  # type: ignore[arg-type]
    public = create_public_app(settings, engine=engine, temporal=temporal)  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=management, raise_app_exceptions=raise_app_exceptions
            ),
            base_url="http://api.local",
            headers={"Authorization": f"Bearer {key}"},
        ) as api,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=public, raise_app_exceptions=raise_app_exceptions),
            base_url="http://public.local",
        ) as public_client,
    ):
        yield InProcessClients(api, public_client, key, workspace_id)
