"""Database fixtures: every store test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Every Settings() of the tests (API, worker, benchmarks' children) signs links with this.
os.environ.setdefault("OUTBOUND_SIGNING_SECRET", "tests-only-signing-secret-0123456789")
# ... and encrypts stored secrets with this key (a Fernet key made for the tests only).
os.environ.setdefault("OUTBOUND_ENCRYPTION_KEYS", "kL7HcE9c8qYgqBWv3l2vCUnXrk8Cd4jYb2pTz0OHhzQ=")
# Every worker of the tests (in process or a child process) re-imports the workflow
# modules per workflow, so the sandbox checks every call they make for nondeterminism;
# production imports them once (Settings.workflow_module_isolation).
os.environ.setdefault("OUTBOUND_WORKFLOW_MODULE_ISOLATION", "true")
# The tests' mail servers (aiosmtpd, dovecot) listen on loopback, on ports of their own; the
# tests of the host checks build their settings with these off.
os.environ.setdefault("OUTBOUND_ALLOW_PRIVATE_MAIL_HOSTS", "true")
os.environ.setdefault("OUTBOUND_ALLOW_ANY_MAIL_PORT", "true")
# Most tests send hundreds of messages to one made-up domain (example.com) from one mailbox:
# the per-domain caps' defaults are lifted for them. The tests of the caps set a workspace's
# own rules (PUT /workspace/sending-rules), which override these.
os.environ.setdefault("OUTBOUND_DOMAIN_HOURLY_CAP", "1000000")
os.environ.setdefault("OUTBOUND_DOMAIN_DAILY_CAP", "1000000")
os.environ.setdefault("OUTBOUND_DOMAIN_CAPS", "{}")

from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from outbound.devstack.dns import Zone, dns_server
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from tests.support.imap_server import imap_server as imap_server
from tests.support.imap_server import refusing_imap_server as refusing_imap_server
from tests.support.postgres import create_database, drop_database, find_pg_bin, running_postgres
from tests.support.sinks import running_sink


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server per test session (skipped where none is installed, but not in CI)."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        if os.environ.get("OUTBOUND_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "OUTBOUND_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries are installed"
            )
        pytest.skip("PostgreSQL server not installed (Debian package: postgresql)")
    with running_postgres(pg_bin) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/outbound.db"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex}"
    url = create_database(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine with the schema created."""
    created = make_engine(database_url)
    upgrade_schema(created)
    try:
        yield created
    finally:
        created.dispose()


@pytest.fixture
def sink() -> Iterator[tuple[FaultSinkHandler, Controller]]:
    """A real SMTP server; it behaves like the plain sink until a test scripts faults."""
    with running_sink(FaultSinkHandler()) as running:
        yield running


@pytest.fixture
async def mail_dns() -> AsyncIterator[tuple[Zone, int]]:
    """A loopback DNS server where every domain has a mail server until a test says otherwise."""
    zone = Zone(default_mx="10 mx.example.net.")
    async with dns_server(zone) as port:
        yield zone, port
