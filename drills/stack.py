"""The embedded stack a drill breaks on purpose: a worker it can kill -9, a dev
server it can restart on the same database file, a sink that can misbehave.

Assembled from ``bench.stack`` (the same processes the benchmarks measure) plus
the API in this process over httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from bench.stack import (
    Child,
    children,
    dev_server,
    settings_environment,
    sink,
    wait_for_pollers,
)
from outbound.api.app import create_app
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.settings import Settings
from outbound.store.engine import create_schema, make_engine
from tests.support.dns_server import Zone, dns_server


@dataclass
class DrillStack:
    """Handles on everything a drill starts; ``kill_worker`` and ``restart_server`` break it."""

    folder: Path
    settings: Settings
    engine: Engine
    temporal: Client
    api: httpx.AsyncClient
    handler: FaultSinkHandler
    sink_port: int
    worker: Child
    server: Child
    worker_kills: int = 0
    server_restarts: int = 0

    async def kill_worker(self) -> None:
        """kill -9 the worker (activities die mid-flight), then start a new one."""
        self.worker.kill()
        self.worker_kills += 1
        self.worker.start()
        await wait_for_pollers(
            self.temporal, self.settings.task_queue, self.worker, activities=True
        )

    async def restart_server(self, down_for: float = 2.0) -> None:
        """Stop the dev server (SIGTERM) and start it again on the same database file."""
        self.server.stop()
        self.server_restarts += 1
        await asyncio.sleep(down_for)
        self.server.start()
        began = time.perf_counter()
        while True:
            try:
                await self.temporal.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except RPCError:
                if time.perf_counter() - began > 60:
                    tail = self.server.log_tail()
                    raise RuntimeError(f"dev server did not come back:\n{tail}") from None
                await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def drill_stack(
    handler: FaultSinkHandler, *, start_worker: bool = True
) -> AsyncIterator[DrillStack]:
    """Dev server (database file), SQLite, the given sink, loopback DNS, a worker, the API."""
    with (
        tempfile.TemporaryDirectory(prefix="drill-") as name,
        sink(handler) as sink_port,
        children() as started,
    ):
        folder = Path(name)
        async with dns_server(Zone(default_mx="10 mx.example.net.")) as dns_port:
            temporal = await dev_server(folder, started)
            server = started[-1]
            settings = Settings(
                database_url=f"sqlite:///{folder / 'outbound.db'}",
                temporal_address=temporal.service_client.config.target_host,
                task_queue=f"drill-{uuid.uuid4().hex[:8]}",
                dns_nameservers=["127.0.0.1"],
                dns_port=dns_port,
                dns_timeout_seconds=0.5,
                log_level="WARNING",
                signing_secret=SecretStr(secrets.token_urlsafe(32)),
            )
            engine = make_engine(settings.database_url)
            create_schema(engine)
            worker = Child(
                [sys.executable, "-m", "outbound.worker"],
                settings_environment(settings),
                folder / "worker.log",
            )
            if start_worker:
                started.append(worker)
                worker.start()
            app = create_app(settings, engine=engine, temporal=temporal)
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api.drill", timeout=600
                ) as api:
                    if start_worker:
                        queue = settings.task_queue
                        await wait_for_pollers(temporal, queue, worker, activities=True)
                    yield DrillStack(
                        folder=folder,
                        settings=settings,
                        engine=engine,
                        temporal=temporal,
                        api=api,
                        handler=handler,
                        sink_port=sink_port,
                        worker=worker,
                        server=server,
                    )
            finally:
                engine.dispose()
                keep = os.environ.get("OUTBOUND_DRILL_KEEP_LOGS")
                if keep:  # the logs and databases outlive the temporary folder
                    shutil.copytree(folder, Path(keep) / folder.name, dirs_exist_ok=True)
