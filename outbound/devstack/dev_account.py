"""The dev stack's own workspace: ``dev``, its admin, and that admin's key in ``var/api-key``.

Made on the first start of ``outbound dev`` so that the README's walkthrough
works as pasted (``-H "Authorization: Bearer $(cat var/api-key)"``); a later
start keeps the key, or makes a new one if the file was deleted or the key
revoked.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.accounts.keys import prefix_of
from outbound.accounts.members import admin_key_for, create_workspace
from outbound.store.tables import ApiKey, Workspace

DEV_WORKSPACE = "dev"
DEV_ADMIN = "dev@outbound.example"


def ensure_dev_key(engine: Engine, key_file: Path) -> str:
    """The dev workspace's admin key, from ``key_file`` while it still works, else new."""
    if key_file.exists():
        stored = key_file.read_text().strip()
        if _live(engine, stored):
            return stored
    with Session(engine) as session:
        exists = session.exec(select(Workspace.id).where(Workspace.name == DEV_WORKSPACE)).first()
    if exists is None:
        _, key = create_workspace(engine, DEV_WORKSPACE, DEV_ADMIN, "Developer")
    else:
        key = admin_key_for(engine, DEV_WORKSPACE, None)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def _live(engine: Engine, key: str) -> bool:
    prefix = prefix_of(key)
    if prefix is None:
        return False
    with Session(engine) as session:
        found = session.exec(
            select(ApiKey.id).where(ApiKey.prefix == prefix, col(ApiKey.revoked_at).is_(None))
        ).first()
    return found is not None
