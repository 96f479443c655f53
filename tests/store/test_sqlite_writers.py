"""SQLite writers take turns on our lock, threads and processes alike
(``outbound.store.sqlite_writers``)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.sqlite_writers import TakeTurnsConnection, WriterLock, writer_lock
from outbound.store.tables import Mailbox
from tests.support.accounts import a_workspace


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "outbound.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE counter (n INTEGER)")
        connection.execute("INSERT INTO counter VALUES (0)")
    return path


def connect(database: Path, busy_timeout: float = 5.0) -> TakeTurnsConnection:
    connection = sqlite3.connect(
        database, timeout=busy_timeout, factory=TakeTurnsConnection, check_same_thread=False
    )
    assert isinstance(connection, TakeTurnsConnection)
    return connection


def test_the_lock_is_held_from_the_first_write_to_the_end_of_the_transaction(
    database: Path,
) -> None:
    lock = writer_lock(str(database))
    connection = connect(database)
    cursor = connection.cursor()
    cursor.execute("SELECT n FROM counter")
    assert not lock.locked(), "a read takes no turn"
    cursor.execute("UPDATE counter SET n = n + 1")
    assert lock.locked()
    cursor.execute("SELECT n FROM counter")
    assert lock.locked(), "held until the transaction ends"
    connection.commit()
    assert not lock.locked()
    cursor.execute("UPDATE counter SET n = n + 1")
    connection.rollback()
    assert not lock.locked()
    cursor.execute("UPDATE counter SET n = n + 1")
    connection.close()
    assert not lock.locked(), "closing a connection mid-transaction lets go"


def test_a_write_that_fails_outside_a_transaction_lets_go(database: Path) -> None:
    lock = writer_lock(str(database))
    connection = connect(database)
    with pytest.raises(sqlite3.OperationalError):
        connection.cursor().execute("INSERT INTO no_such_table VALUES (1)")
    assert not lock.locked()
    connection.close()


def test_a_writer_waits_for_the_one_before_it_however_short_its_busy_timeout(
    database: Path,
) -> None:
    """Without the turn, the second writer would meet SQLite's lock and, after its 50 ms
    busy timeout, fail with "database is locked"; with it, it writes once the first ends."""
    first = connect(database)
    first.cursor().execute("UPDATE counter SET n = n + 1")
    second_done = threading.Event()
    failures: list[BaseException] = []

    def second_writer() -> None:
        second = connect(database, busy_timeout=0.05)
        try:
            second.cursor().execute("UPDATE counter SET n = n + 10")
            second.commit()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)
        finally:
            second.close()
            second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)  # real time on purpose: the second writer must outwait its busy timeout
    assert not second_done.is_set(), "the second writer waits while the first holds its turn"
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert failures == []
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT n FROM counter").fetchone() == (11,)


def test_many_threads_writing_through_the_engine_lose_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbound.db'}")
    upgrade_schema(engine)
    with Session(engine) as session:
        ws, _ = a_workspace(session)
        mailbox = Mailbox(
            workspace_id=ws,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="a@b.example",
        )
        session.add(mailbox)
        session.commit()
        mailbox_id = mailbox.id

    def bump(times: int) -> None:
        for _ in range(times):
            with Session(engine) as session:
                session.exec(  # type: ignore[call-overload]
                    text("UPDATE mailbox SET daily_limit = daily_limit + 1 WHERE id = :id"),
                    params={"id": mailbox_id},
                )
                session.commit()

    with Session(engine) as session:
        before = session.exec(select(Mailbox.daily_limit)).one()
    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with Session(engine) as session:
        assert session.exec(select(Mailbox.daily_limit)).one() == before + 400
    assert not writer_lock(str(tmp_path / "outbound.db")).locked()
    engine.dispose()


def run_python(script: str, *args: str) -> subprocess.Popen[str]:
    """Another process (a second worker, the API) working on the same database."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_in_another_process_waits_for_ours_however_short_its_busy_timeout(
    database: Path,
) -> None:
    """As with threads: the other process would fail "database is locked" after its
    50 ms busy timeout; with the file lock it writes once ours ends."""
    first = connect(database)
    first.cursor().execute("UPDATE counter SET n = n + 1")
    other = run_python(
        """
        import sqlite3, sys
        from outbound.store.sqlite_writers import TakeTurnsConnection
        connection = sqlite3.connect(sys.argv[1], timeout=0.05, factory=TakeTurnsConnection)
        connection.cursor().execute("UPDATE counter SET n = n + 10")
        connection.commit()
        """,
        str(database),
    )
    time.sleep(1.0)  # real time on purpose: the other process must outwait its busy timeout
    assert other.poll() is None, "the other process waits while we hold the lock"
    first.commit()
    first.close()
    _, errors = other.communicate(timeout=30)
    assert other.returncode == 0, errors
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT n FROM counter").fetchone() == (11,)


def test_a_lock_held_by_another_process_past_the_timeout_is_given_up(database: Path) -> None:
    """The writer then goes on to SQLite's own lock and busy timeout, as without ours;
    its thread lock is free again for the next writer of this process."""
    ours = writer_lock(str(database))
    elsewhere = WriterLock(database.resolve())  # its own open file: as another process has
    assert elsewhere.acquire(timeout=1)
    assert not ours.acquire(timeout=0.05)
    assert not ours.locked()
    elsewhere.release()
    assert ours.acquire(timeout=1)
    ours.release()


def test_a_forked_child_takes_turns_with_its_parent(tmp_path: Path) -> None:
    """Forked after opening the lock file, a child shares the parent's ``flock`` unless
    it opens its own; then both could write at once. In a fresh process: not under
    pytest's threads."""
    database = tmp_path / "outbound.db"
    child = run_python(
        """
        import os, sys
        from outbound.store.sqlite_writers import writer_lock
        lock = writer_lock(sys.argv[1])
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.read(ready_read, 1)  # the parent holds the lock now
            os._exit(0 if not writer_lock(sys.argv[1]).acquire(timeout=0.2) else 1)
        assert lock.acquire(timeout=1)
        os.write(ready_write, b"x")
        _, status = os.waitpid(pid, 0)
        lock.release()
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        str(database),
    )
    _, errors = child.communicate(timeout=30)
    assert child.returncode == 0, errors or "the child took the lock its parent held"


def test_the_lock_of_a_parent_that_dies_holding_it_is_free_while_its_forked_child_lives(
    tmp_path: Path,
) -> None:
    """The child's inherited copy of the lock file would keep the dead parent's ``flock``,
    and every writer would wait out its timeout; the child closes that copy at the fork."""
    database, verdict = tmp_path / "outbound.db", tmp_path / "child-verdict"
    process = run_python(
        """
        import os, sys
        from pathlib import Path
        from outbound.store.sqlite_writers import writer_lock
        lock = writer_lock(sys.argv[1])
        assert lock.acquire(timeout=1)
        parent_gone_read, parent_gone_write = os.pipe()
        if os.fork() == 0:  # the child, while the parent holds the lock
            os.close(parent_gone_write)
            os.read(parent_gone_read, 1)  # end of file: the parent has exited
            free = writer_lock(sys.argv[1]).acquire(timeout=1)
            Path(sys.argv[2]).write_text("free" if free else "held")
            os._exit(0)
        os._exit(0)  # the parent dies holding the lock
        """,
        str(database),
        str(verdict),
    )
    process.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while not verdict.exists() or not verdict.read_text():
        assert time.monotonic() < deadline, "the forked child never answered"
        time.sleep(0.05)  # real time: the child is another process
    assert verdict.read_text() == "free", "the dead parent's lock was still held"
