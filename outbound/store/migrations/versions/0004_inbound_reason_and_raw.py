"""inboundevent.reason and inboundevent.raw: what a notice said, and its bytes when unread

``reason`` is a bounce's or delay's reason from the shared table
(``outbound.mail.reasons``), or a complaint's feedback type; ``raw`` keeps a
notice the classifier could not read (up to 1 MiB) for a person to look at.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboundevent") as batch:
        batch.add_column(sa.Column("reason", sa.String(), nullable=True))
        batch.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
