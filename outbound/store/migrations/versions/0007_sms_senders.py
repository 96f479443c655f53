"""sms_sender, its grants and its slots; the message log learns channels (issue 27)

An SMS sender is a number (or a provider's messaging service) with a mailbox's
limits; its auth token is stored encrypted like mailbox passwords. Every
message logged before this revision is an email (``channel`` defaults to it).

Revision ID: 0007
Revises: 0005 (re-chained after 0006 by the integrator)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_senders()
    _create_grants()
    _create_slots()
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(), nullable=False, server_default="email")
        )
        batch_op.add_column(sa.Column("provider_sid", sa.String(), nullable=True))
        batch_op.create_index("ix_message_provider_sid", ["provider_sid"], unique=False)


def _create_senders() -> None:
    op.create_table(
        "sms_sender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("account_sid", sa.String(), nullable=False),
        sa.Column("auth_token_encrypted", sa.String(), nullable=False),
        sa.Column("from_number", sa.String(), nullable=True),
        sa.Column("messaging_service_sid", sa.String(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("per_second", sa.Float(), nullable=False),
        sa.Column("send_days", sa.JSON(), nullable=True),
        sa.Column("send_start", sa.String(), nullable=False),
        sa.Column("send_end", sa.String(), nullable=False),
        sa.Column("reservation_version", sa.Integer(), nullable=False),
        sa.Column("throttled_until", _WHEN, nullable=True),
        sa.Column("connection_state", sa.String(), nullable=False),
        sa.Column("connection_problem", sa.String(), nullable=True),
        sa.Column("help_text", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_sender_workspace_id", "sms_sender", ["workspace_id"])


def _create_grants() -> None:
    op.create_table(
        "sms_sender_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("sender_id", sa.Integer(), sa.ForeignKey("sms_sender.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("granted_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender_id", "user_id", name="uq_smssendergrant_user"),
    )
    op.create_index("ix_sms_sender_grant_sender_id", "sms_sender_grant", ["sender_id"])
    op.create_index("ix_sms_sender_grant_user_id", "sms_sender_grant", ["user_id"])
    op.create_index("ix_sms_sender_grant_workspace_id", "sms_sender_grant", ["workspace_id"])


def _create_slots() -> None:
    op.create_table(
        "sms_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("sender_id", sa.Integer(), sa.ForeignKey("sms_sender.id"), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), sa.ForeignKey("enrollment.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("slot_at", _WHEN, nullable=False),
        sa.Column("slot_day", sa.Date(), nullable=False),
        sa.Column("reserved_at", _WHEN, nullable=False),
        sa.Column("released_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_sms_slot_key"),
    )
    op.create_index("ix_sms_slot_sender_time", "sms_slot", ["sender_id", "slot_at"])
    op.create_index("ix_sms_slot_enrollment_id", "sms_slot", ["enrollment_id"])
    op.create_index(
        "ix_sms_slot_active_day",
        "sms_slot",
        ["sender_id", "slot_day"],
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
