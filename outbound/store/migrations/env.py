"""Alembic's environment: runs migrations on the connection Outbound hands it.

Outbound never reads an ``alembic.ini``: ``outbound.store.migrate`` builds the
configuration, takes the schema lock and passes the open connection in
``config.attributes["connection"]`` (and the secrets keyring, which data
migrations that encrypt need, in ``config.attributes["keyring"]``).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from outbound.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite changes a table by copying it (ALTER TABLE cannot drop or retype columns).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
