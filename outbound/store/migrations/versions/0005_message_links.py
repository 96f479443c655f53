"""messagelink: the opaque key a message's signed links name it by

Links of messages sent before this revision carry the message's row id and
keep working until they age out (``outbound.tracking.tokens``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messagelink",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("message_row_id", sa.Integer(), sa.ForeignKey("message.id"), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("message_row_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
