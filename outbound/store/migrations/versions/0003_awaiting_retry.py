"""enrollment.awaiting_retry: a Failed prospect still waiting for a manual Retry

A campaign is Completed only when every sequence has ended; one whose step
failed and waits for a Retry keeps it InProgress. Existing Failed enrollments
are waiting (their 30 days run from the failure, which the workflow knows and
mirrors when it ends them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment") as batch:
        batch.add_column(
            sa.Column("awaiting_retry", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE enrollment SET awaiting_retry = (status = 'Failed')"))


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
