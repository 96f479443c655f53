"""A throwaway PostgreSQL server for the store tests (Debian's ``postgresql`` package).

Runs as the ``postgres`` OS user when we are root (initdb refuses root), on a
free loopback port, with trust authentication and its data in a temporary
folder that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, newest version first; None if not installed."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        folder = Path(
            subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        )
        if (folder / "initdb").exists():
            return folder
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@contextlib.contextmanager
def running_postgres(pg_bin: Path) -> Iterator[str]:
    """Start a server; yields a SQLAlchemy URL of its ``postgres`` database."""
    folder = Path(tempfile.mkdtemp(prefix="outbound-pg-"))
    as_user = _as_postgres_user(folder)
    data, log = folder / "data", folder / "server.log"
    port = _free_port()
    try:
        _run(
            [
                *as_user,
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ]
        )
        _run(
            [
                *as_user,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
                "-c max_connections=200",
                "start",
            ]
        )
        _wait_ready(port, log)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name``; returns its URL."""
    with psycopg.connect(_libpq(server_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, closing whatever still uses it."""
    with psycopg.connect(_libpq(server_url), autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _as_postgres_user(folder: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    shutil.chown(folder, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}… failed:\n{done.stdout}\n{done.stderr}")


def _wait_ready(port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start:\n{log.read_text(errors='replace')}"
                ) from None
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
