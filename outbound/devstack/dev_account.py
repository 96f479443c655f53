"""The dev stack's own workspace: ``dev``, its admin, that admin's key in ``var/api-key``,
and an SMS sender on the local SMS gateway.

Made on the first start of ``outbound dev`` so that the README's walkthrough
works as pasted (``-H "Authorization: Bearer $(cat var/api-key)"``); a later
start keeps the key, or makes a new one if the file was deleted or the key
revoked. The SMS sender "Dev SMS" sends through the gateway's dev account, from
Twilio's test number +15005550006; its auth token is the gateway's (kept in
``var/``), stored encrypted like any sender's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.accounts.keys import prefix_of
from outbound.accounts.members import admin_key_for, create_workspace
from outbound.domain.sms_senders import SmsSenderCreate
from outbound.store.encryption import Keyring, SecretUnreadable
from outbound.store.sms_senders import create_sms_sender
from outbound.store.tables import ApiKey, SmsSender, Workspace

DEV_WORKSPACE = "dev"
DEV_ADMIN = "dev@outbound.example"
DEV_SMS_ACCOUNT_SID = "AC" + "de7" * 10 + "de"  # the local gateway's only account
DEV_SMS_SENDER = "Dev SMS"
DEV_SMS_NUMBER = "+15005550006"  # Twilio's test "From" number: valid, sends anywhere


@dataclass(frozen=True)
class DevSmsSender:
    """The dev workspace's SMS sender, as ``outbound dev`` announces it."""

    id: int
    name: str
    from_number: str
    account_sid: str


def ensure_dev_key(engine: Engine, key_file: Path) -> str:
    """The dev workspace's admin key, from ``key_file`` while it still works, else new."""
    if key_file.exists():
        stored = key_file.read_text().strip()
        if _live(engine, stored):
            return stored
    with Session(engine) as session:
        exists = session.exec(select(Workspace.id).where(Workspace.name == DEV_WORKSPACE)).first()
    if exists is None:
        _, key = create_workspace(engine, DEV_WORKSPACE, DEV_ADMIN, "Developer")
    else:
        key = admin_key_for(engine, DEV_WORKSPACE, None)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def _live(engine: Engine, key: str) -> bool:
    prefix = prefix_of(key)
    if prefix is None:
        return False
    with Session(engine) as session:
        found = session.exec(
            select(ApiKey.id).where(ApiKey.prefix == prefix, col(ApiKey.revoked_at).is_(None))
        ).first()
    return found is not None


def ensure_dev_sms_sender(engine: Engine, keyring: Keyring, auth_token: str) -> DevSmsSender:
    """The dev workspace's "Dev SMS" sender (made on first start), its token ``auth_token``.

    Call after :func:`ensure_dev_key` (the workspace exists then). A later start keeps
    the sender and its settings; a token the gateway no longer has is replaced.
    """
    with Session(engine) as session:
        workspace_id = session.exec(
            select(Workspace.id).where(Workspace.name == DEV_WORKSPACE)
        ).one()
        assert workspace_id is not None
        sender = session.exec(
            select(SmsSender).where(
                SmsSender.workspace_id == workspace_id, SmsSender.name == DEV_SMS_SENDER
            )
        ).first()
        if sender is None:
            body = SmsSenderCreate.model_validate(
                {
                    "name": DEV_SMS_SENDER,
                    "account_sid": DEV_SMS_ACCOUNT_SID,
                    "auth_token": auth_token,
                    "from_number": DEV_SMS_NUMBER,
                    "daily_limit": 1000,
                    "per_second": 10,
                    "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "send_start": "00:00",
                    "send_end": "23:59",
                    "help_text": "Outbound dev: reply STOP to opt out.",
                }
            )
            sender = create_sms_sender(session, workspace_id, body, keyring)
        elif _token_of(keyring, sender) != auth_token:
            sender.auth_token_encrypted = keyring.encrypt(auth_token)
            session.add(sender)
            session.commit()
            session.refresh(sender)
        assert sender.id is not None
        return DevSmsSender(sender.id, sender.name, sender.from_number or "", sender.account_sid)


def _token_of(keyring: Keyring, sender: SmsSender) -> str | None:
    try:
        return keyring.decrypt(sender.auth_token_encrypted)
    except SecretUnreadable:
        return None
