"""mailboxes that sign in with OAuth 2.0: mailbox.auth_method and its token; oauth_connect

A mailbox signs in with a password (every mailbox made before this revision)
or with an OAuth provider's refresh token, stored encrypted like passwords.
``oauth_connect`` holds each admin's sign-in between its start and the
provider's callback, used once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("mailbox") as batch:
        batch.add_column(
            sa.Column("auth_method", sa.String(), nullable=False, server_default="password")
        )
        batch.add_column(sa.Column("oauth_provider", sa.String(), nullable=True))
        batch.add_column(sa.Column("oauth_refresh_token_encrypted", sa.String(), nullable=True))
    op.create_table(
        "oauth_connect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("code_verifier_encrypted", sa.String(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), sa.ForeignKey("mailbox.id"), nullable=True),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_oauth_connect_workspace_id", "oauth_connect", ["workspace_id"])


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
