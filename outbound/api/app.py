"""The FastAPI application factory.

``create_app()`` is what uvicorn runs (``--factory``); tests pass their own
engine and Temporal client so they need no lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from outbound.api.errors import install_error_handlers
from outbound.api.limits import RequestLimits
from outbound.api.routes import (
    bulk,
    campaigns,
    enrollments,
    inbound,
    mailboxes,
    sink,
    steps,
    suppressions,
    tasks,
    tracking,
    unsubscribe,
)
from outbound.settings import Settings, get_settings
from outbound.store.engine import create_schema, make_engine
from outbound.temporal_client import connect
from outbound.tracking.tokens import LinkSigner


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """Build the API; missing engine / Temporal client are created at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            app.state.engine = make_engine(settings.database_url)
            create_schema(app.state.engine)
        if getattr(app.state, "temporal", None) is None:
            app.state.temporal = await connect(settings)
        yield

    app = FastAPI(
        title="Outbound",
        summary="Outreach email sequences delivered durably on Temporal.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.temporal = temporal
    app.state.signer = LinkSigner.from_settings(settings)  # fails at once without a secret
    install_error_handlers(app)
    app.add_middleware(RequestLimits)  # bodies bounded before any route reads them
    for module in (
        mailboxes,
        campaigns,
        steps,
        enrollments,
        bulk,
        tasks,
        suppressions,
        inbound,
        unsubscribe,
        tracking,
        sink,
    ):
        app.include_router(module.router)
    return app
