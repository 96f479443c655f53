"""campaigns send texts: campaign.sms_sender_id, mailbox_id optional; workspace quiet hours

A campaign with SMS steps names the SMS sender they go from; an all-SMS
campaign needs no mailbox, so ``campaign.mailbox_id`` may be empty. Every
campaign made before this revision keeps its mailbox and has no sender. A
workspace may narrow the legal hours of texts (08:00–21:00 in the
recipient's local time); existing workspaces get exactly those hours.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("sms_sender_id", sa.Integer(), nullable=True))
        batch.alter_column("mailbox_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key("fk_campaign_sms_sender", "sms_sender", ["sms_sender_id"], ["id"])
        batch.create_index("ix_campaign_sms_sender_id", ["sms_sender_id"])
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(
            sa.Column("sms_quiet_start", sa.String(), nullable=False, server_default="08:00")
        )
        batch.add_column(
            sa.Column("sms_quiet_end", sa.String(), nullable=False, server_default="21:00")
        )


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
