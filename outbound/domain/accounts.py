"""Request and response shapes of workspaces, users, API keys, mailbox grants and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from outbound.domain.validators import EmailAddress, SingleLine


class Role(StrEnum):
    """A user's role in a workspace."""

    ADMIN = "admin"  # users, keys, mailboxes, every campaign
    MEMBER = "member"  # their own campaigns, through mailboxes shared with them


Name = Annotated[SingleLine, Field(max_length=200)]


class Me(BaseModel):
    """Who the key in this request belongs to."""

    workspace_id: int
    workspace_name: str
    user_id: int
    user_email: str | None
    user_name: str
    role: Role
    key_prefix: str


class UserCreate(BaseModel):
    """Add a person to the workspace (a new user, or one who belongs to another workspace)."""

    email: EmailAddress
    name: Name = ""
    role: Role = Role.MEMBER


class RoleChange(BaseModel):
    """Make a user an admin or a member."""

    role: Role


class UserPublic(BaseModel):
    """A user of the workspace and their role in it."""

    id: int
    email: str | None
    name: str
    role: Role
    created_at: datetime


class KeyCreate(BaseModel):
    """A new API key for a user of the workspace (by default the caller)."""

    name: Name = Field(default="", description="What the key is for, e.g. 'CRM sync'.")
    user_id: int | None = Field(default=None, description="Whose key it is (default: yours).")


class KeyPublic(BaseModel):
    """An API key as listed: its visible prefix, never the key."""

    id: int
    prefix: str
    name: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    """A key just made: ``key`` is shown this once and cannot be shown again."""

    key: str


class GrantCreate(BaseModel):
    """Let a member send through the mailbox."""

    user_id: int


class GrantPublic(BaseModel):
    """A member who may send through the mailbox."""

    mailbox_id: int
    user_id: int
    granted_at: datetime


class AuditEntryPublic(BaseModel):
    """One state-changing call: who, what, on which object, with what answer."""

    id: int
    at: datetime
    user_id: int | None
    key_prefix: str
    method: str
    route: str
    path: str
    object_type: str | None
    object_id: str | None
    status_code: int


class AuditPage(BaseModel):
    """Entries newest first; pass ``next_before`` as ``before`` for the next page."""

    items: list[AuditEntryPublic]
    next_before: int | None
