"""The schema belongs to Alembic: upgrade a database to the newest revision, or create it there.

``upgrade_schema`` is what ``outbound db upgrade``, ``outbound dev`` and (when
``OUTBOUND_MIGRATE_ON_START`` is on) the API run. The API and the workers may
start together on an empty database, so the whole upgrade happens under a lock
and whoever comes second finds nothing to do: an advisory lock on PostgreSQL,
the database write lock (``BEGIN IMMEDIATE``) on SQLite.

Three starting points:

* an empty database is created from the models and stamped at the newest
  revision (one ``CREATE TABLE`` per table, as Alembic's cookbook advises;
  ``tests/store/test_migrations.py`` checks that this and the migrations
  arrive at the same schema);
* a database made before Alembic owned the schema (tables, no
  ``alembic_version``) is stamped at revision ``0001``, today's schema of that
  time, and upgraded from there;
* any other database is upgraded from its revision.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from outbound.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata

FIRST_REVISION = "0001"
_SCHEMA_LOCK = 7_265_031  # any fixed number: the advisory lock of schema changes
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)  # per connection: noise


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code: run ``outbound db upgrade``."""


def alembic_config(connection: Connection | None = None, keyring: object = None) -> Config:
    """Alembic's configuration for Outbound, with no ini file."""
    config = Config()
    config.set_main_option("script_location", "outbound.store:migrations")
    config.attributes["connection"] = connection
    config.attributes["keyring"] = keyring
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None before Alembic owned it (or when it is empty)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine, keyring: object = None) -> str:
    """Bring the database to the newest revision (idempotent); returns what was done.

    ``keyring`` (``outbound.secrets.Keyring``) is needed by data migrations
    that encrypt stored secrets.
    """
    with engine.connect() as connection, _sqlite_migration_pragmas(connection):
        _lock(connection)
        tables_now = set(inspect(connection).get_table_names())
        config = alembic_config(connection, keyring)
        if not tables_now - {"alembic_version"}:
            SQLModel.metadata.create_all(connection)
            command.stamp(config, "head")
            done = "created"
        else:
            revision = MigrationContext.configure(connection).get_current_revision()
            if revision is None:
                command.stamp(config, FIRST_REVISION)
            if revision == head_revision():
                done = "up to date"
            else:
                command.upgrade(config, "head")
                done = f"upgraded from {revision or 'before migrations'}"
        connection.commit()
    return done


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a database behind (or ahead of) this code, saying what to do."""
    found, wanted = current_revision(engine), head_revision()
    if found != wanted:
        raise SchemaOutOfDate(
            f"the database is at schema revision {found or 'none'}, this code needs {wanted}: "
            "run `outbound db upgrade` (or start the API with OUTBOUND_MIGRATE_ON_START=true)"
        )


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _sqlite_migration_pragmas(connection: Connection) -> Iterator[None]:
    """SQLite changes a table by copying it and dropping the original.

    Enforced foreign keys would refuse the drop, and the pragma only takes effect
    outside a transaction, so it is switched off before the lock's BEGIN and on
    again after the commit. ``secure_delete`` overwrites the pages a migration
    frees, and the checkpoint writes them to the file, so a column dropped for
    holding a secret in plain text (revision 0002) leaves no copy behind.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        if sqlite:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("PRAGMA secure_delete=OFF")
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
