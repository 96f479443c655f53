"""Secrets at rest: encrypted with the configured keys, rotated, and a lost key stops the start."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from outbound.store.encryption import (
    ENCRYPTED_COLUMNS,
    Keyring,
    NoEncryptionKey,
    SecretUnreadable,
    check_stored_secrets,
    new_key,
    rotate_stored_secrets,
)
from outbound.store.scope import TABLE_CRITERIA
from outbound.store.tables import Mailbox
from tests.support.accounts import a_workspace


def stored_mailbox(engine: Engine, keyring: Keyring) -> int:
    with Session(engine) as session:
        workspace_id, _ = a_workspace(session)
        mailbox = Mailbox(
            workspace_id=workspace_id,
            smtp_host="smtp.example.com",
            smtp_port=587,
            tls_mode="starttls",
            from_address="ada@example.com",
            smtp_password_encrypted=keyring.encrypt("smtp-secret"),
            imap_password_encrypted=keyring.encrypt("imap-secret"),
        )
        session.add(mailbox)
        session.commit()
        return mailbox.id or 0


def test_a_lost_key_is_a_clear_error_at_start_not_garbage(engine: Engine) -> None:
    stored_mailbox(engine, Keyring.from_keys([new_key()]))

    with pytest.raises(SecretUnreadable, match=r"mailbox\.smtp_password_encrypted: .*restore it"):
        check_stored_secrets(engine, Keyring.from_keys([new_key()]))


def test_keys_rotate_new_first_old_still_read_then_dropped(engine: Engine) -> None:
    old, new = new_key(), new_key()
    mailbox_id = stored_mailbox(engine, Keyring.from_keys([old]))
    both = Keyring.from_keys([new, old])

    check_stored_secrets(engine, both)  # the old key still reads them
    assert rotate_stored_secrets(engine, both) == 2

    only_new = Keyring.from_keys([new])
    check_stored_secrets(engine, only_new)
    with Session(engine) as session:
        row = session.exec(select(Mailbox).where(Mailbox.id == mailbox_id)).one()
        assert only_new.decrypt(row.smtp_password_encrypted or "") == "smtp-secret"
        assert "smtp-secret" not in (row.smtp_password_encrypted or "")
    with pytest.raises(SecretUnreadable):
        check_stored_secrets(engine, Keyring.from_keys([old]))


def test_no_key_or_a_malformed_one_is_refused_with_what_to_do() -> None:
    with pytest.raises(NoEncryptionKey, match="new-encryption-key"):
        Keyring.from_keys([])
    with pytest.raises(NoEncryptionKey, match="key 2 of OUTBOUND_ENCRYPTION_KEYS"):
        Keyring.from_keys([new_key(), "not-a-key"])


def test_every_encrypted_column_is_checked_at_start_and_rotated() -> None:
    listed = {(t.__tablename__, n) for t, names in ENCRYPTED_COLUMNS for n in names}  # type: ignore[attr-defined]
    found = {
        (table.name, column.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    assert listed == found


def test_every_table_belongs_to_a_workspace_in_the_one_scoping_place() -> None:
    scoped = {table.__tablename__ for table in TABLE_CRITERIA}  # type: ignore[attr-defined]
    assert set(SQLModel.metadata.tables) == scoped
    for table, _ in ENCRYPTED_COLUMNS:
        assert table in TABLE_CRITERIA
