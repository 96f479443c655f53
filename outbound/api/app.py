"""The two FastAPI applications, on two listeners.

* ``create_app()``: the management API (``outbound dev``: port 8000). Every
  route needs an API key (``outbound.api.auth``) and sees one workspace. Keep
  it on an internal network.
* ``create_public_app()``: what mail recipients and providers reach (port
  8001): the unsubscribe page, the open pixel and click redirect, the inbound
  webhook, the SMS provider's webhooks. Each route carries its own proof (a
  signed link, the webhook's secret, the SMS provider's signature) and nothing
  else is served there, so publishing it exposes nothing of the management
  API. Signed links in messages point here
  (``OUTBOUND_PUBLIC_BASE_URL``).

uvicorn runs them with ``--factory``; tests pass their own engine and Temporal
client, so they need no lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from outbound.accounts.keys import KeyVerifier
from outbound.api.auth import authorize
from outbound.api.errors import install_error_handlers
from outbound.api.limits import RequestLimits
from outbound.api.middleware import (
    AuditMiddleware,
    PhoneRegionMiddleware,
    ScopeMiddleware,
    SecurityHeadersMiddleware,
)
from outbound.api.routes import (
    accounts,
    bulk,
    campaign_company_rules,
    campaign_days_off,
    campaigns,
    enrollments,
    health,
    inbound,
    inbound_webhook,
    mailbox_grants,
    mailbox_oauth,
    mailbox_plan,
    mailbox_reputation,
    mailboxes,
    metrics,
    previews,
    sending_rules,
    sink,
    sms_sender_grants,
    sms_senders,
    sms_webhooks,
    steps,
    suppressions,
    tasks,
    tracking,
    unsubscribe,
    webhooks,
    workspace,
)
from outbound.observability.logs import configure_logging
from outbound.settings import Settings, get_settings
from outbound.store.encryption import Keyring, check_stored_secrets
from outbound.store.engine import make_engine
from outbound.store.migrate import require_current_schema, upgrade_schema
from outbound.temporal_client import connect
from outbound.tracking.tokens import LinkSigner
from outbound.webhooks.dispatch import Dispatcher

MANAGEMENT_ROUTERS: tuple[ModuleType, ...] = (
    accounts,
    mailbox_oauth,
    mailboxes,
    mailbox_plan,
    mailbox_reputation,
    mailbox_grants,
    sms_senders,
    sms_sender_grants,
    inbound,
    campaigns,
    campaign_days_off,
    campaign_company_rules,
    previews,
    steps,
    enrollments,
    bulk,
    tasks,
    suppressions,
    sink,
    workspace,
    sending_rules,
    webhooks,
)
PUBLIC_ROUTERS: tuple[ModuleType, ...] = (
    unsubscribe,
    tracking,
    inbound_webhook,
    sms_webhooks,
    health,
)

# The management API answers JSON; its only HTML is the OpenAPI page (left its defaults).
_MANAGEMENT_CSP = "default-src 'none'; frame-ancestors 'none'"
# The unsubscribe page: no script, no outside resource, a form that posts to itself.
_PUBLIC_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """The management API; missing engine / Temporal client are created at startup."""
    settings = settings or get_settings()
    app = _application(
        settings,
        engine,
        temporal,
        title="Outbound",
        summary="Outreach sequences delivered durably on Temporal: the management API. "
        "Every route needs 'Authorization: Bearer <API key>'.",
        prepare_database=True,
    )
    guard = [Depends(authorize)]
    for module in MANAGEMENT_ROUTERS:
        app.include_router(module.router, dependencies=guard)
    app.include_router(health.router)  # without a key: it tells nothing
    app.include_router(metrics.router)  # without a key: counts only, no ids or addresses
    # Without a key: the provider sends the admin's browser here; the signed, single-use
    # state is its proof and names the workspace (routes/mailbox_oauth.py).
    app.include_router(mailbox_oauth.callback_router)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(RequestLimits)  # bodies bounded before any route reads them
    app.add_middleware(PhoneRegionMiddleware, region=settings.default_phone_region)
    app.add_middleware(SecurityHeadersMiddleware, content_security_policy=_MANAGEMENT_CSP)
    app.add_middleware(ScopeMiddleware, system=False)
    return app


def create_public_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """The recipients' and providers' routes, without any management route."""
    settings = settings or get_settings()
    app = _application(
        settings,
        engine,
        temporal,
        title="Outbound (public)",
        summary="Unsubscribe, open and click tracking, the inbound webhook, SMS webhooks.",
        prepare_database=False,
        documented=False,  # recipients need no API docs; nothing here to discover
    )
    for module in PUBLIC_ROUTERS:
        app.include_router(module.router)
    app.add_middleware(RequestLimits)
    app.add_middleware(SecurityHeadersMiddleware, content_security_policy=_PUBLIC_CSP)
    app.add_middleware(ScopeMiddleware, system=True)
    return app


def _application(
    settings: Settings,
    engine: Engine | None,
    temporal: Client | None,
    *,
    title: str,
    summary: str,
    prepare_database: bool,
    documented: bool = True,
) -> FastAPI:
    keyring = Keyring.from_settings(settings)  # fails at once without a key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.log_format == "json":  # ours as JSON lines (uvicorn keeps its own)
            configure_logging(settings.log_level, settings.log_format)
        if getattr(app.state, "engine", None) is None:
            app.state.engine = make_engine(settings.database_url)
            if prepare_database and settings.migrate_on_start:
                upgrade_schema(app.state.engine, keyring)
            require_current_schema(app.state.engine)
            check_stored_secrets(app.state.engine, keyring)
        if getattr(app.state, "temporal", None) is None:
            app.state.temporal = await connect(settings)
        yield

    app = FastAPI(
        title=title,
        summary=summary,
        version="0.2.0",
        lifespan=lifespan,
        docs_url="/docs" if documented else None,
        redoc_url="/redoc" if documented else None,
        openapi_url="/openapi.json" if documented else None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.temporal = temporal
    app.state.signer = LinkSigner.from_settings(settings)  # fails at once without a secret
    app.state.keyring = keyring
    app.state.key_verifier = KeyVerifier()
    app.state.webhooks = Dispatcher(settings)
    install_error_handlers(app)
    return app
