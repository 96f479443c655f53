"""The API over ASGI with a real SQLite store; no Temporal (these requests never reach it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from outbound.accounts.members import create_workspace
from outbound.api.app import create_app, create_public_app
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/api.db")


@pytest.fixture
def api_engine(api_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(api_settings.database_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def api(api_settings: Settings, api_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The management API with the admin key of workspace ``tests``."""
    _, key = create_workspace(api_engine, "tests", "ada@example.com", "Ada")
    app = create_app(api_settings, engine=api_engine, temporal=None)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client


@pytest.fixture
async def public(api_settings: Settings, api_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The public app (unsubscribe, tracking, inbound webhook) on the same store."""
    app = create_public_app(api_settings, engine=api_engine, temporal=None)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://outbound.test",
    ) as client:
        yield client
