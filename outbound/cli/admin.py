"""``outbound db …`` and ``outbound admin …``: run on the server, against the database.

These talk to the database directly (they are how the first admin key comes
to exist); everything else goes through the API with a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from outbound.accounts.members import admin_key_for, create_workspace
from outbound.domain.problems import ProblemError
from outbound.settings import Settings, get_settings
from outbound.store.encryption import Keyring, new_key, rotate_stored_secrets
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema


@contextmanager
def _database() -> Iterator[tuple[Settings, Engine]]:
    """This server's settings and an engine on its database, disposed after."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        yield settings, engine
    finally:
        engine.dispose()


db = typer.Typer(help="The database: schema upgrades (Alembic).", no_args_is_help=True)
admin = typer.Typer(help="Workspaces, first keys and secrets, on the server.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@db.command()
def upgrade() -> None:
    """Upgrade OUTBOUND_DATABASE_URL to this version's schema (safe to run again)."""
    with _database() as (settings, engine):
        done = upgrade_schema(engine, Keyring.from_settings(settings))
    console.print(f"database schema: {done}")


@admin.command("create-workspace")
def create_workspace_command(
    name: str,
    admin_email: Annotated[str, typer.Option(help="The first admin's email.")],
    admin_name: Annotated[str, typer.Option(help="The first admin's name.")] = "",
) -> None:
    """Make a workspace and its first admin; prints the admin's API key (shown once)."""
    with _database() as (_, engine):
        try:
            workspace_id, key = create_workspace(engine, name, admin_email, admin_name)
        except ProblemError as refused:
            errors.print(f"refused: {refused}")
            raise typer.Exit(1) from None
    console.print(f"workspace {name!r} (id {workspace_id}); admin key, shown once:")
    print(key)


@admin.command("create-key")
def create_key_command(
    workspace: str,
    email: Annotated[str | None, typer.Option(help="Which admin (default: the first).")] = None,
) -> None:
    """A new API key for an admin of a workspace (a lost key, or a database upgraded from
    before workspaces, whose data is in the workspace 'default')."""
    with _database() as (_, engine):
        try:
            key = admin_key_for(engine, workspace, email)
        except ProblemError as refused:
            errors.print(f"refused: {refused}")
            raise typer.Exit(1) from None
    print(key)


@admin.command("new-encryption-key")
def new_encryption_key() -> None:
    """Print a new key for OUTBOUND_ENCRYPTION_KEYS (put it first to rotate)."""
    print(new_key())


@admin.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret with the first of OUTBOUND_ENCRYPTION_KEYS."""
    with _database() as (settings, engine):
        rotated = rotate_stored_secrets(engine, Keyring.from_settings(settings))
    console.print(f"{rotated} stored secret(s) re-encrypted with the first key")
