"""sending safety: mailbox pools, per-domain caps, warm-up, holidays, reputation, company
rules and the re-contact cooldown

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("workspace") as table:
        table.add_column(sa.Column("domain_hourly_cap", sa.Integer(), nullable=True))
        table.add_column(sa.Column("domain_daily_cap", sa.Integer(), nullable=True))
        table.add_column(sa.Column("domain_caps", sa.JSON(), nullable=False, server_default="{}"))
        table.add_column(
            sa.Column("recontact_cooldown_days", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("mailbox") as table:
        table.add_column(sa.Column("warmup_start", sa.Integer(), nullable=True))
        table.add_column(
            sa.Column("warmup_increment", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("warmup_started_on", sa.Date(), nullable=True))
        table.add_column(sa.Column("holiday_calendar", sa.String(), nullable=True))
        table.add_column(
            sa.Column("blackout_dates", sa.JSON(), nullable=False, server_default="[]")
        )
        table.add_column(sa.Column("paused_reason", sa.String(), nullable=True))
        table.add_column(sa.Column("reputation_since", _WHEN, nullable=True))
    with op.batch_alter_table("campaign") as table:
        table.add_column(sa.Column("mailbox_pool", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("company_rule", sa.String(), nullable=True))
        table.add_column(
            sa.Column("one_per_company", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("holiday_calendar", sa.String(), nullable=True))
        table.add_column(
            sa.Column("blackout_dates", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("enrollment") as table:
        table.add_column(sa.Column("mailbox_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("ended_at", _WHEN, nullable=True))
        table.create_foreign_key("fk_enrollment_mailbox", "mailbox", ["mailbox_id"], ["id"])
        table.create_index("ix_enrollment_mailbox_id", ["mailbox_id"])
    with op.batch_alter_table("slotreservation") as table:
        table.add_column(sa.Column("to_domain", sa.String(), nullable=True))
    op.create_index(
        "ix_slot_active_domain",
        "slotreservation",
        ["mailbox_id", "to_domain", "slot_day"],
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_slot_active_domain", table_name="slotreservation")
    with op.batch_alter_table("slotreservation") as table:
        table.drop_column("to_domain")
    with op.batch_alter_table("enrollment") as table:
        table.drop_index("ix_enrollment_mailbox_id")
        table.drop_constraint("fk_enrollment_mailbox", type_="foreignkey")
        table.drop_column("ended_at")
        table.drop_column("mailbox_id")
    with op.batch_alter_table("campaign") as table:
        for column in (
            "blackout_dates",
            "holiday_calendar",
            "one_per_company",
            "company_rule",
            "mailbox_pool",
        ):
            table.drop_column(column)
    with op.batch_alter_table("mailbox") as table:
        for column in (
            "reputation_since",
            "paused_reason",
            "blackout_dates",
            "holiday_calendar",
            "warmup_started_on",
            "warmup_increment",
            "warmup_start",
        ):
            table.drop_column(column)
    with op.batch_alter_table("workspace") as table:
        for column in (
            "recontact_cooldown_days",
            "domain_caps",
            "domain_daily_cap",
            "domain_hourly_cap",
        ):
            table.drop_column(column)
