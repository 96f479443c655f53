"""``outbound dev`` runs ``temporal server start-dev`` with the command line of
``devstack.run.temporal_command``: it must start offline, register our search
attributes, and keep its history in a write-ahead-logged file (the pragma the
start and stop benchmarks depend on)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import Session
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from outbound.devstack.run import DevStackConfig, prepare_database, temporal_command
from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.store.engine import make_engine
from outbound.store.tables import SmsSender


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _connect(address: str, server: asyncio.subprocess.Process) -> Client:
    for _ in range(150):
        try:
            return await Client.connect(address)
        except RuntimeError:
            assert server.returncode is None, "the dev server exited"
            await asyncio.sleep(0.2)
    raise AssertionError("the dev server did not answer within 30 s")


async def test_the_dev_server_starts_with_our_attributes_and_a_wal_database(
    tmp_path: Path,
) -> None:
    config = DevStackConfig(data_dir=tmp_path, temporal_port=_free_port(), ui_port=_free_port())
    server = await asyncio.create_subprocess_exec(
        *temporal_command(config),
        "--headless",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        client = await _connect(f"{config.host}:{config.temporal_port}", server)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)

    assert {key.name for key in ALL_KEYWORDS} <= set(listed.custom_attributes)
    with sqlite3.connect(tmp_path / "temporal.db") as database:
        (journal_mode,) = database.execute("PRAGMA journal_mode").fetchone()
    assert journal_mode == "wal"


def test_outbound_dev_keeps_one_signing_secret_per_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTBOUND_SIGNING_SECRET", raising=False)
    first = DevStackConfig(data_dir=tmp_path).child_environment()["OUTBOUND_SIGNING_SECRET"]
    again = DevStackConfig(data_dir=tmp_path).child_environment()["OUTBOUND_SIGNING_SECRET"]
    other = DevStackConfig(data_dir=tmp_path / "other").child_environment()

    assert first == again and len(first) >= 32  # links in mail already sent keep working
    assert other["OUTBOUND_SIGNING_SECRET"] != first
    assert (tmp_path / "signing-secret").stat().st_mode & 0o777 == 0o600


def test_outbound_dev_points_the_sdk_at_its_gateway_and_makes_one_dev_sms_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTBOUND_ENCRYPTION_KEYS", raising=False)
    config = DevStackConfig(data_dir=tmp_path, sms_port=18026)
    environment = config.child_environment()

    key, sender = prepare_database(config)
    again_key, again = prepare_database(config)

    assert environment["OUTBOUND_SMS_API_BASE_URL"] == "http://127.0.0.1:18026"
    assert (key, sender) == (again_key, again)
    assert (sender.name, sender.from_number) == ("Dev SMS", "+15005550006")
    token = (tmp_path / "sms-auth-token").read_text().strip()
    assert (tmp_path / "sms-auth-token").stat().st_mode & 0o777 == 0o600
    engine = make_engine(environment["OUTBOUND_DATABASE_URL"])
    try:
        with Session(engine) as session:
            stored = session.get_one(SmsSender, sender.id)
            assert token not in stored.auth_token_encrypted  # encrypted at rest
    finally:
        engine.dispose()
