"""Create the SQLAlchemy engine for any URL, with the per-backend settings that matter."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from outbound.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata
from outbound.store.sqlite_writers import SQLITE_LOCK_WAIT_SECONDS, TakeTurnsConnection


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets WAL, a busy timeout for concurrent writers
    and writers that take turns on a lock of ours (``sqlite_writers``)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": SQLITE_LOCK_WAIT_SECONDS,
        }
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args["factory"] = TakeTurnsConnection
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """WAL mode, waiting for the lock the switch needs.

    On a new database file the first connections of the API and the workers
    all switch at once, and SQLite may refuse the switch as locked at once,
    without waiting the busy timeout (``test_schema_creation_from_many_processes``
    failed so under load). The mode is stored in the file: after the first
    switch the statement only reads it.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
