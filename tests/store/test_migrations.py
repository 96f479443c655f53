"""Alembic owns the schema: a database of the version before workspaces upgrades in place.

``fixtures/before_workspaces.sql`` is a SQLite dump made with the code of
47f9374 (the last version before migrations): a campaign run end to end
through its API, worker and SMTP sink, with three owners, suppressions listed
by two of them, an opt-out, a manual task, a stopped prospect and passwords
stored in plain text (see fixtures/README.md). The tests load it, upgrade it,
and check that every row is there, in one default workspace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlmodel import Session, SQLModel

from outbound.store.encryption import Keyring, new_key
from outbound.store.engine import make_engine
from outbound.store.migrate import (
    FIRST_REVISION,
    SchemaOutOfDate,
    alembic_config,
    current_revision,
    head_revision,
    require_current_schema,
    upgrade_schema,
)
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Membership,
    Prospect,
    ProspectAddress,
    Suppression,
    User,
    Workspace,
)

FIXTURE = Path(__file__).parent / "fixtures" / "before_workspaces.sql"
KEYRING = Keyring.from_keys([new_key()])


def _old_rows() -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows in the fixture, as the old version stored them."""
    old = sqlite3.connect(":memory:")
    old.executescript(FIXTURE.read_text())
    names = [r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {name: old.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}


def _load_fixture(engine: Engine) -> None:
    """The fixture's schema and rows: on SQLite as dumped; elsewhere the schema of revision
    0001 (what that version created) and the rows copied in."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            # The dump lists tables by name, not in the order their foreign keys need.
            script = f"PRAGMA foreign_keys=OFF;{FIXTURE.read_text()}PRAGMA foreign_keys=ON;"
            raw.executescript(script)  # type: ignore[attr-defined]
        finally:
            raw.close()
        return
    with engine.connect() as connection:
        from alembic import command

        command.upgrade(alembic_config(connection), FIRST_REVISION)
        connection.execute(text("DROP TABLE alembic_version"))  # as before migrations
        connection.commit()
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as connection:
        for table in meta.sorted_tables:
            rows = _old_rows().get(table.name, [])
            for row in rows:
                values = {}
                for column, value in zip(table.columns, row, strict=True):
                    if value is not None and column.type.python_type is bool:
                        value = bool(value)
                    values[column.name] = value
                connection.execute(table.insert().values(values))
            if rows:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )


@pytest.fixture
def old_database(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    _load_fixture(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_database_of_the_version_before_upgrades_with_every_row_in_the_default_workspace(
    old_database: Engine,
) -> None:
    before = _old_rows()
    assert current_revision(old_database) is None
    with pytest.raises(SchemaOutOfDate, match="outbound db upgrade"):
        require_current_schema(old_database)

    assert upgrade_schema(old_database, KEYRING) == "upgraded from before migrations"

    require_current_schema(old_database)
    with Session(old_database) as session:
        [workspace] = session.exec(select(Workspace)).scalars().all()
        assert workspace.name == "default"
        for table in (Mailbox, Campaign, Prospect, ProspectAddress, Enrollment, Suppression):
            rows = session.exec(select(table)).scalars().all()
            assert {row.workspace_id for row in rows} == {workspace.id}, table.__tablename__
        for table in ("mailbox", "campaign", "prospect", "prospectaddress", "enrollment"):
            count = session.exec(text(f"SELECT count(*) FROM {table}")).scalar()
            assert count == len(before[table]), table
        for table in ("step", "enrollmentstep", "message", "slotreservation", "trackingevent"):
            old = sorted(before[table])
            new = sorted(tuple(r) for r in session.exec(text(f"SELECT * FROM {table}")).all())
            assert len(new) == len(old), table
            assert [r[0] for r in new] == [r[0] for r in old], table

        owners = {
            c.name: session.get(User, c.owner_user_id)
            for c in session.exec(select(Campaign)).scalars()
        }
        assert {name: user.name for name, user in owners.items() if user} == {
            "Backend hiring": "ada",
            "Sales Q1": "bob",
            "Old one": "me",
        }
        roles = session.exec(select(Membership.role)).scalars().all()
        assert roles and set(roles) == {"admin"}

        mailboxes = {m.username: m for m in session.exec(select(Mailbox)).scalars()}
        assert (
            KEYRING.decrypt(mailboxes["ada"].smtp_password_encrypted or "") == "ada-smtp-password-1"
        )
        assert KEYRING.decrypt(mailboxes["ada"].imap_password_encrypted or "") == (
            "ada-imap-password-3"
        )
        assert (
            KEYRING.decrypt(mailboxes["bob"].smtp_password_encrypted or "") == "bob-smtp-password-2"
        )
        statuses = dict(session.exec(select(Enrollment.id, Enrollment.status)).all())
        assert statuses == {row[0]: row[3] for row in before["enrollment"]}
        workflow_ids = set(session.exec(select(Enrollment.workflow_id)).scalars())
        assert "campaign-1-prospect-1" in workflow_ids

        # Two owners had listed gone@example.com; the workspace lists it once. The removed
        # entries stay removed, the opt-out stays active.
        listed = {
            s.address: s.removed_at is None for s in session.exec(select(Suppression)).scalars()
        }
        assert listed == {
            "gone@example.com": True,
            "ann.lee+jobs@gmail.com": False,
            "annlee@gmail.com": False,
            "cem@cogs.example.org": True,
        }
    assert "ada-smtp-password-1" not in _dump(old_database)


def test_upgrading_needs_the_encryption_key_when_passwords_are_stored(
    old_database: Engine,
) -> None:
    with pytest.raises(RuntimeError, match="OUTBOUND_ENCRYPTION_KEYS"):
        upgrade_schema(old_database, None)
    assert current_revision(old_database) is None  # nothing half done


def test_migrations_and_a_new_database_arrive_at_the_same_schema(
    old_database: Engine, database_url: str
) -> None:
    upgrade_schema(old_database, KEYRING)
    with old_database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert upgrade_schema(old_database, KEYRING) == "up to date"


def test_a_new_database_is_created_at_the_newest_revision(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert "workspace" in inspect(engine).get_table_names()


def _dump(engine: Engine) -> str:
    """The whole database as text (SQLite: the file; PostgreSQL: every row)."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        files = [Path(engine.url.database), Path(f"{engine.url.database}-wal")]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as connection:
        return repr([connection.execute(t.select()).all() for t in meta.sorted_tables])
