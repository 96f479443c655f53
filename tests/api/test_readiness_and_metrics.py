"""/readyz names the part that does not answer (503, the one problem shape); /metrics
answers without a key, counts only, and only on the management app."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from outbound.api.app import create_app, create_public_app
from outbound.observability import metrics
from outbound.settings import Settings
from outbound.store.engine import make_engine


class FakeService:
    def __init__(self, healthy: bool | None) -> None:
        self.healthy = healthy

    async def check_health(self) -> bool:
        if self.healthy is None:
            raise ConnectionError("connection refused")
        return self.healthy


def temporal(healthy: bool | None) -> object:
    return SimpleNamespace(service_client=FakeService(healthy))


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
    ) as client:
        return await client.get(path)


@pytest.mark.parametrize("factory", [create_app, create_public_app])
async def test_ready_when_the_database_and_temporal_answer(
    factory: type, api_settings: Settings, api_engine: Engine
) -> None:
    app = factory(api_settings, engine=api_engine, temporal=temporal(True))

    answer = await get(app, "/readyz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "database": "ok", "temporal": "ok"}


@pytest.mark.parametrize("factory", [create_app, create_public_app])
async def test_not_ready_names_the_database_and_hides_its_url(
    factory: type, api_settings: Settings, tmp_path: Path
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path}/gone/outbound.db")
    (tmp_path / "gone").rmdir()  # the database's folder went away: it cannot be opened
    app = factory(api_settings, engine=broken, temporal=temporal(True))

    answer = await get(app, "/readyz")

    assert answer.status_code == 503
    (problem,) = answer.json()["detail"]
    assert problem["field"] == "database"
    assert "SELECT 1 failed" in problem["reason"] and "gone" not in answer.text
    broken.dispose()


async def test_not_ready_names_temporal(api_settings: Settings, api_engine: Engine) -> None:
    for fake in (temporal(None), temporal(False)):
        answer = await get(create_app(api_settings, engine=api_engine, temporal=fake), "/readyz")

        assert answer.status_code == 503
        assert [p["field"] for p in answer.json()["detail"]] == ["temporal"]


async def test_metrics_answer_without_a_key_with_counts_only(
    api_settings: Settings, api_engine: Engine
) -> None:
    metrics.webhook_deliveries.labels(result="delivered").inc(0)  # the hook exists
    app = create_app(api_settings, engine=api_engine, temporal=temporal(True))

    answer = await get(app, "/metrics")
    public = await get(create_public_app(api_settings, engine=api_engine), "/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    names = {
        line.split("{")[0].split(" ")[0]
        for line in answer.text.splitlines()
        if line and not line.startswith("#")
    }
    ours = {name for name in names if name.startswith("outbound_")}
    assert {"outbound_webhook_deliveries_total", "outbound_send_seconds_count"} <= ours
    assert "# TYPE outbound_sequences gauge" in answer.text
    assert public.status_code == 404
