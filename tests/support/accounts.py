"""Workspaces for tests that write the store directly (the API's tests use keys instead)."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from outbound.accounts.members import add_workspace


def a_workspace(session: Session) -> tuple[int, int]:
    """A new workspace and its admin (flushed in ``session``): (workspace id, user id)."""
    return add_workspace(session, f"test-{uuid.uuid4().hex[:8]}", None, "Ada")
