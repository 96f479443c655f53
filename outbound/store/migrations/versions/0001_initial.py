"""Today's schema: the tables as they were when Alembic took over

Revision ID: 0001
Revises:
Create Date: 2026-12-05 09:11:47.546383
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables of 47f9374, as SQLModel.metadata.create_all made them.
    op.create_table(
        "mailbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("smtp_host", sa.String(), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("tls_mode", sa.String(), nullable=False),
        sa.Column("username", sa.String(), nullable=True),
        sa.Column("smtp_password", sa.String(), nullable=True),
        sa.Column("from_name", sa.String(), nullable=False),
        sa.Column("from_address", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("min_gap_seconds", sa.Integer(), nullable=False),
        sa.Column("send_days", sa.JSON(), nullable=True),
        sa.Column("send_start", sa.String(), nullable=False),
        sa.Column("send_end", sa.String(), nullable=False),
        sa.Column("plus_addressing", sa.Boolean(), nullable=False),
        sa.Column("reservation_version", sa.Integer(), nullable=False),
        sa.Column("last_send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_send_key", sa.String(), nullable=True),
        sa.Column("connection_state", sa.String(), nullable=False),
        sa.Column("connection_problem", sa.String(), nullable=True),
        sa.Column("connection_version", sa.Integer(), nullable=False),
        sa.Column("throttled_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imap_host", sa.String(), nullable=True),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_tls", sa.Boolean(), nullable=False),
        sa.Column("imap_username", sa.String(), nullable=True),
        sa.Column("imap_password", sa.String(), nullable=True),
        sa.Column("imap_folder", sa.String(), nullable=False),
        sa.Column("inbound_secret_hash", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "prospect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(), nullable=False),
        sa.Column("last_name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "address"),
    )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppression_owner"), ["owner"], unique=False)

    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("send_days", sa.JSON(), nullable=True),
        sa.Column("send_start", sa.String(), nullable=True),
        sa.Column("send_end", sa.String(), nullable=True),
        sa.Column("address_preference", sa.String(), nullable=True),
        sa.Column("only_preferred_type", sa.Boolean(), nullable=False),
        sa.Column("time_zone_source", sa.String(), nullable=False),
        sa.Column("when_to_send", sa.String(), nullable=False),
        sa.Column("specific_time", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_accepted_by", sa.String(), nullable=True),
        sa.Column("consent_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("track_opens", sa.Boolean(), nullable=False),
        sa.Column("track_clicks", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_mailbox_id"), ["mailbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_status"), ["status"], unique=False)

    op.create_table(
        "prospectaddress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prospect_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("use_first", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prospect_id"],
            ["prospect.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    with op.batch_alter_table("prospectaddress", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prospectaddress_prospect_id"), ["prospect_id"], unique=False
        )

    op.create_table(
        "enrollment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("prospect_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(), nullable=True),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("override_address", sa.String(), nullable=True),
        sa.Column("halt_status", sa.String(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_snippet", sa.String(), nullable=True),
        sa.Column("state_version", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.ForeignKeyConstraint(
            ["prospect_id"],
            ["prospect.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "prospect_id"),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollment_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_enrollment_prospect_id"), ["prospect_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enrollment_status"), ["status"], unique=False)

    op.create_table(
        "step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("task", sa.String(), nullable=True),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("thread_mode", sa.String(), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "position"),
    )
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "enrollmentstep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "position"),
    )
    with op.batch_alter_table("enrollmentstep", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollmentstep_enrollment_id"), ["enrollment_id"], unique=False
        )

    op.create_table(
        "inboundevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("why", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("sender", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("snippet", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id", "dedup_key"),
    )
    with op.batch_alter_table("inboundevent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inboundevent_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inboundevent_mailbox_id"), ["mailbox_id"], unique=False
        )

    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("envelope_from", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.String(), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "position", "to_address"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_message_envelope_from"), ["envelope_from"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_message_message_id"), ["message_id"], unique=False)

    op.create_table(
        "slotreservation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_day", sa.Date(), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("slotreservation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_slot_active_day",
            ["mailbox_id", "slot_day"],
            unique=False,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        )
        batch_op.create_index("ix_slot_mailbox_time", ["mailbox_id", "slot_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slotreservation_enrollment_id"), ["enrollment_id"], unique=False
        )

    op.create_table(
        "trackedlink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_row_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_row_id", "position"),
    )
    with op.batch_alter_table("trackedlink", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trackedlink_message_row_id"), ["message_row_id"], unique=False
        )

    op.create_table(
        "trackingevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("link_position", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_row_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trackingevent", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_message_kind", ["message_row_id", "kind"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
