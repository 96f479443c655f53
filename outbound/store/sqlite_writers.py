"""SQLite writers take turns on a lock of ours, handed over at once.

SQLite lets one connection write at a time. A connection that finds the write
lock taken waits in SQLite's busy handler, which polls: it sleeps 1, 2, 5, 10,
15, 20, 25 ... up to 100 ms between tries, so the lock often lies free while
every waiter sleeps. The worker writes from several threads at once (slot
reservations, the send's bookkeeping, the state mirror), all small
transactions: in the send benchmark at 1,000 prospects its threads spent
142 s waiting for the lock during a 30-second run in which the lock was held
for 15 s in all. Here a connection about to open a write transaction first
takes our writer lock, and gives it back as the transaction ends:

- within a process, a ``threading.Lock``, so the next writer starts the moment
  the lock is free;
- across processes (the API, more workers), an ``flock`` on a file beside the
  database (``outbound.db-writer-lock``), which the one waiting thread of each
  process retries every millisecond at most. Before, a second worker process
  met SQLite's polling and added nothing (``bench.send_throughput`` at 1,000
  prospects: 35.2 and 35.3 sends/s with two workers, 32.3–35.3 with one); with
  the file lock two workers send 35.9–38.5/s. A blocking ``flock`` measured
  about 4% more, but it cannot give up after a timeout, and a process stuck in
  a transaction would hold every writer forever.

With Python's default (legacy) transaction control, ``sqlite3`` opens a
transaction right before an INSERT, UPDATE, DELETE or REPLACE and not before a
SELECT, so a write transaction holds SQLite's lock from its first write to its
end: the span our lock covers too. Reads never wait for it (WAL).

Written here rather than with ``filelock``, which opens and checks its lock
file again at every acquire and every retry: it is made for rare, long locks,
and this one is taken hundreds of times a second around millisecond-long
transactions.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SQLITE_LOCK_WAIT_SECONDS = 30  # how long a SQLite connection waits for another's write lock
LOCK_FILE_SUFFIX = "-writer-lock"
_FIRST_RETRY_SECONDS = 0.0001
_LONGEST_RETRY_SECONDS = 0.001
_OPENS_A_WRITE = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")


class WriterLock:
    """Writers of one database file take turns: threads on a ``threading.Lock``, processes
    on an ``flock`` of the file beside the database.

    Only the thread holding the thread lock tries the file lock, so each process
    has at most one thread retrying it. The file stays open for the life of the
    process; the kernel lets go of the ``flock`` if the process dies.
    """

    def __init__(self, database: Path) -> None:
        self._threads = threading.Lock()
        lock_file = database.with_name(database.name + LOCK_FILE_SUFFIX)
        self._file = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def locked(self) -> bool:
        """Whether a writer of this process holds the lock."""
        return self._threads.locked()

    def acquire(self, timeout: float) -> bool:
        """True once this thread may write; False after ``timeout`` seconds without."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        if self._lock_file(deadline):
            return True
        self._threads.release()
        return False

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def close_inherited(self) -> None:
        """In a forked child: close the parent's copy of the lock file, which would keep
        the parent's ``flock`` held for as long as the child lives, past the parent's death."""
        os.close(self._file)

    def _lock_file(self, deadline: float) -> bool:
        """Retry at growing intervals, a millisecond at most: another process's write
        transaction lasts about that long."""
        retry = _FIRST_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(retry)
            retry = min(retry * 2, _LONGEST_RETRY_SECONDS)


_locks: dict[Path, WriterLock] = {}
_locks_guard = threading.Lock()


def writer_lock(database: str) -> WriterLock:
    """The process's one lock for writers of the database file ``database``."""
    key = Path(database).resolve()
    with _locks_guard:
        if key not in _locks:
            _locks[key] = WriterLock(key)
        return _locks[key]


def _forget_locks_in_child() -> None:
    """A forked child shares its parent's open lock files, and with them the parent's
    ``flock``: it closes them and opens its own, so parent and child take turns too."""
    global _locks_guard
    for lock in _locks.values():
        lock.close_inherited()
    _locks.clear()
    _locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_child)


class TakeTurnsConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose write transactions take the database's writer lock.

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
