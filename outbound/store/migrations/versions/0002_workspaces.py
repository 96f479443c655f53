"""Workspaces, users, API keys, grants and the audit log; secrets encrypted at rest

Every row of the database before this revision lands in one workspace named
``default``. Each free-text campaign ``owner`` (and suppression-list owner)
becomes a user of that name, an admin of the workspace, since anyone could do
anything before; the campaign's owner is that user. Suppression lists were
per owner and are per workspace now: an address listed by several owners is
kept once (its active entry, else the oldest). Mailbox passwords are
encrypted with the first of ``OUTBOUND_ENCRYPTION_KEYS``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 09:13:19
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_WORKSPACE = "default"
_WHEN = sa.DateTime(timezone=True)
# SQLite copies a table to change it; naming the unnamed constraints it reflects lets a
# copy drop one (the old unique address of prospectaddress).
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    _create_account_tables()
    workspace_id = _default_workspace()
    users = _users_for_owners(workspace_id)
    _add_workspace_columns(workspace_id)
    _campaign_owners(users)
    _suppressions_per_workspace(workspace_id)
    _encrypt_mailbox_passwords()


def _create_account_tables() -> None:
    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "user_id", name="uq_membership_user"),
    )
    op.create_index("ix_membership_user_id", "membership", ["user_id"])
    op.create_index("ix_membership_workspace_id", "membership", ["workspace_id"])
    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_index("ix_apikey_user_id", "apikey", ["user_id"])
    op.create_index("ix_apikey_workspace_id", "apikey", ["workspace_id"])
    op.create_table(
        "mailboxgrant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), sa.ForeignKey("mailbox.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("granted_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id", "user_id", name="uq_mailboxgrant_user"),
    )
    op.create_index("ix_mailboxgrant_mailbox_id", "mailboxgrant", ["mailbox_id"])
    op.create_index("ix_mailboxgrant_user_id", "mailboxgrant", ["user_id"])
    op.create_index("ix_mailboxgrant_workspace_id", "mailboxgrant", ["workspace_id"])
    op.create_table(
        "auditentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), sa.ForeignKey("workspace.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("key_prefix", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=True),
        sa.Column("object_id", sa.String(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_object", "auditentry", ["workspace_id", "object_type", "object_id"])
    op.create_index("ix_auditentry_at", "auditentry", ["at"])
    op.create_index("ix_auditentry_user_id", "auditentry", ["user_id"])
    op.create_index("ix_auditentry_workspace_id", "auditentry", ["workspace_id"])


def _default_workspace() -> int:
    bind = op.get_bind()
    bind.execute(
        sa.text("INSERT INTO workspace (name, created_at) VALUES (:name, CURRENT_TIMESTAMP)"),
        {"name": DEFAULT_WORKSPACE},
    )
    found = bind.execute(
        sa.text("SELECT id FROM workspace WHERE name = :name"), {"name": DEFAULT_WORKSPACE}
    ).scalar_one()
    return int(found)


def _users_for_owners(workspace_id: int) -> dict[str, int]:
    """One admin user per owner name that campaigns or suppression lists used."""
    bind = op.get_bind()
    owners = sorted(
        {
            str(row[0])
            for row in bind.execute(
                sa.text("SELECT owner FROM campaign UNION SELECT owner FROM suppression")
            )
        }
    )
    users: dict[str, int] = {}
    for owner in owners:
        bind.execute(
            sa.text(
                "INSERT INTO user_account (name, created_at) VALUES (:name, CURRENT_TIMESTAMP)"
            ),
            {"name": owner},
        )
        user_id = bind.execute(
            sa.text("SELECT max(id) FROM user_account WHERE name = :name"), {"name": owner}
        ).scalar_one()
        bind.execute(
            sa.text(
                "INSERT INTO membership (workspace_id, user_id, role, created_at) "
                "VALUES (:workspace, :user, 'admin', CURRENT_TIMESTAMP)"
            ),
            {"workspace": workspace_id, "user": user_id},
        )
        users[owner] = int(user_id)
    return users


def _add_workspace_columns(workspace_id: int) -> None:
    """``workspace_id`` on every table a workspace owns directly, filled with the default."""
    for table in ("mailbox", "campaign", "prospect", "prospectaddress", "enrollment"):
        op.add_column(table, sa.Column("workspace_id", sa.Integer(), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET workspace_id = {workspace_id}"))  # noqa: S608
        naming = _SQLITE_NAMES if table == "prospectaddress" else None
        with op.batch_alter_table(table, naming_convention=naming) as batch:
            batch.alter_column("workspace_id", existing_type=sa.Integer(), nullable=False)
            batch.create_foreign_key(f"fk_{table}_workspace", "workspace", ["workspace_id"], ["id"])
            if table == "prospectaddress":
                batch.drop_constraint(_old_unique_address(), type_="unique")
                batch.create_unique_constraint(
                    "uq_prospectaddress_workspace_address", ["workspace_id", "address"]
                )
            else:
                batch.create_index(f"ix_{table}_workspace_id", ["workspace_id"])


def _old_unique_address() -> str:
    """The name of prospectaddress's unique(address): PostgreSQL's own, or the SQLite copy's."""
    if op.get_bind().dialect.name == "postgresql":
        return "prospectaddress_address_key"
    return "uq_prospectaddress_address"


def _campaign_owners(users: dict[str, int]) -> None:
    op.add_column("campaign", sa.Column("owner_user_id", sa.Integer(), nullable=True))
    for owner, user_id in users.items():
        op.get_bind().execute(
            sa.text("UPDATE campaign SET owner_user_id = :user WHERE owner = :owner"),
            {"user": user_id, "owner": owner},
        )
    with op.batch_alter_table("campaign") as batch:
        batch.alter_column("owner_user_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_campaign_owner", "user_account", ["owner_user_id"], ["id"])
        batch.create_index("ix_campaign_owner_user_id", ["owner_user_id"])
        batch.drop_column("owner")


def _suppressions_per_workspace(workspace_id: int) -> None:
    """One entry per address: the active one (else the oldest) of all owners' entries."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, address, removed_at FROM suppression ORDER BY address, id")
    ).all()
    keep: dict[str, tuple[int, bool]] = {}
    for row_id, address, removed_at in rows:
        active = removed_at is None
        kept = keep.get(address)
        if kept is None or (active and not kept[1]):
            keep[address] = (row_id, active)
    drop = [row_id for row_id, _, _ in rows if row_id not in {k for k, _ in keep.values()}]
    for row_id in drop:
        bind.execute(sa.text("DELETE FROM suppression WHERE id = :id"), {"id": row_id})
    op.add_column("suppression", sa.Column("workspace_id", sa.Integer(), nullable=True))
    op.execute(sa.text(f"UPDATE suppression SET workspace_id = {workspace_id}"))  # noqa: S608
    with op.batch_alter_table("suppression") as batch:
        batch.alter_column("workspace_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_suppression_workspace", "workspace", ["workspace_id"], ["id"])
        batch.drop_index("ix_suppression_owner")
        batch.drop_column("owner")  # and with it the unique (owner, address)
        batch.create_index("ix_suppression_workspace_id", ["workspace_id"])
        batch.create_unique_constraint(
            "uq_suppression_workspace_address", ["workspace_id", "address"]
        )


def _encrypt_mailbox_passwords() -> None:
    bind = op.get_bind()
    op.add_column("mailbox", sa.Column("smtp_password_encrypted", sa.String(), nullable=True))
    op.add_column("mailbox", sa.Column("imap_password_encrypted", sa.String(), nullable=True))
    rows = bind.execute(sa.text("SELECT id, smtp_password, imap_password FROM mailbox")).all()
    if any(smtp or imap for _, smtp, imap in rows):
        keyring = op.get_context().config.attributes.get("keyring")  # type: ignore[union-attr]
        if keyring is None:
            raise RuntimeError(
                "this upgrade encrypts the stored mailbox passwords: set "
                "OUTBOUND_ENCRYPTION_KEYS (`outbound admin new-encryption-key` makes a key)"
            )
        for mailbox_id, smtp, imap in rows:
            bind.execute(
                sa.text(
                    "UPDATE mailbox SET smtp_password_encrypted = :smtp, "
                    "imap_password_encrypted = :imap WHERE id = :id"
                ),
                {
                    "smtp": keyring.encrypt(smtp) if smtp else None,
                    "imap": keyring.encrypt(imap) if imap else None,
                    "id": mailbox_id,
                },
            )
    with op.batch_alter_table("mailbox") as batch:
        batch.drop_column("smtp_password")
        batch.drop_column("imap_password")


def downgrade() -> None:
    raise NotImplementedError("Outbound's migrations go forward only")
