"""The API over ASGI with a real SQLite store; no Temporal (these requests never reach it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from outbound.api.app import create_app
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/api.db")
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    app = create_app(settings, engine=engine, temporal=None)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
    ) as client:
        yield client
    engine.dispose()
