"""SQLite writers of one process take turns on a lock of ours, handed over at once.

SQLite lets one connection write at a time. A connection that finds the write
lock taken waits in SQLite's busy handler, which polls: it sleeps 1, 2, 5, 10,
15, 20, 25 ... up to 100 ms between tries, so the lock often lies free while
every waiter sleeps. The worker writes from several threads at once (slot
reservations, the send's bookkeeping, the state mirror), all small
transactions: in the send benchmark at 1,000 prospects its threads spent
142 s waiting for the lock during a 30-second run in which the lock was held
for 15 s in all. Here a connection about to open a write transaction first
takes a per-database ``threading.Lock`` of this process, and gives it back as
the transaction ends, so the next writer of this process starts the moment
the lock is free. Writers in other processes (the API, more workers) still
meet SQLite's own lock and its busy timeout, as before.

With Python's default (legacy) transaction control, ``sqlite3`` opens a
transaction right before an INSERT, UPDATE, DELETE or REPLACE and not before a
SELECT, so a write transaction holds SQLite's lock from its first write to its
end: the span our lock covers too. Reads never wait for it (WAL).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

SQLITE_LOCK_WAIT_SECONDS = 30  # how long a SQLite connection waits for another's write lock
_OPENS_A_WRITE = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def writer_lock(database: str) -> threading.Lock:
    """The process's one lock for writers of the database file ``database``."""
    key = str(Path(database).resolve())
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class TakeTurnsConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose write transactions take the process's writer lock.

    Pass it as ``factory`` to ``sqlite3.connect`` (SQLAlchemy: ``connect_args``).
    A writer that waits longer than SQLite's busy timeout for the lock goes on
    without it, to SQLite's own lock and busy timeout: never worse than before.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._writer_lock = writer_lock(database)
        self._holds_lock = False

    def cursor(self, factory: type[sqlite3.Cursor] | None = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or TakeTurnsCursor)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_unless_in_transaction()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_unless_in_transaction()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _before_statement(self, sql: str) -> None:
        if self._holds_lock or self.in_transaction:
            return
        if sql.lstrip()[:7].upper().startswith(_OPENS_A_WRITE):
            self._holds_lock = self._writer_lock.acquire(timeout=SQLITE_LOCK_WAIT_SECONDS)

    def _release_unless_in_transaction(self) -> None:
        """After a statement, commit or rollback: a write that ended (or never began) lets go."""
        if not self.in_transaction:
            self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            self._writer_lock.release()


class TakeTurnsCursor(sqlite3.Cursor):
    """Takes the connection's writer lock before a statement that opens a write transaction."""

    connection: TakeTurnsConnection

    def execute(self, sql: str, parameters: Any = (), /) -> TakeTurnsCursor:
        self.connection._before_statement(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection._release_unless_in_transaction()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> TakeTurnsCursor:
        self.connection._before_statement(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection._release_unless_in_transaction()
