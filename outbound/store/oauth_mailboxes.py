"""The store side of signing a mailbox in with its provider: begin, then connect.

``begin`` records a sign-in (its PKCE verifier encrypted); ``connect_mailbox``
creates the mailbox the provider's account names, or reconnects the one the
sign-in was for (or the workspace's mailbox of that account and provider): its
servers become the provider's, its refresh token is stored encrypted, its
password is dropped, and its connection version goes up so that parked
sequences go on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from outbound.domain.accounts import Role
from outbound.domain.statuses import AuthMethod
from outbound.oauth.connect import Consented
from outbound.oauth.provider_settings import OAuthProviderSettings
from outbound.oauth.providers import Provider
from outbound.oauth.state import LIFETIME
from outbound.store.encryption import Keyring
from outbound.store.mailboxes import reconnect
from outbound.store.tables import Mailbox, Membership, OAuthConnect


class WrongAccount(Exception):
    """The account that signed in is not the mailbox's: nothing was changed."""


def begin(
    session: Session,
    workspace_id: int,
    user_id: int,
    provider: Provider,
    mailbox_id: int | None,
    options: dict[str, Any],
    secrets: tuple[str, str],
    keyring: Keyring,
    now: datetime,
) -> OAuthConnect:
    """Record a sign-in; ``secrets`` are its PKCE verifier and nonce (``new_secrets``)."""
    verifier, nonce = secrets
    row = OAuthConnect(
        workspace_id=workspace_id,
        user_id=user_id,
        provider=provider.value,
        nonce=nonce,
        code_verifier_encrypted=keyring.encrypt(verifier),
        mailbox_id=mailbox_id,
        options=options,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def still_admin(session: Session, row: OAuthConnect) -> bool:
    """Whether whoever started the sign-in is still an admin of its workspace."""
    role = session.exec(
        select(Membership.role).where(
            Membership.workspace_id == row.workspace_id, Membership.user_id == row.user_id
        )
    ).first()
    return role == Role.ADMIN.value


def connect_mailbox(
    session: Session,
    row: OAuthConnect,
    consented: Consented,
    config: OAuthProviderSettings,
    keyring: Keyring,
) -> tuple[Mailbox, bool]:
    """The connected mailbox and whether it is new (commits)."""
    provider = Provider(row.provider)
    mailbox = _target(session, row, consented.email, provider)
    created = mailbox is None
    if mailbox is None:
        options = row.options or {}
        mailbox = Mailbox(
            workspace_id=row.workspace_id,
            from_address=consented.email,
            smtp_host=config.smtp_host,
            smtp_port=config.smtp_port,
            tls_mode=config.smtp_tls.value,
            **{k: v for k, v in options.items() if k in _NEW_MAILBOX_OPTIONS},
        )
    mailbox.smtp_host, mailbox.smtp_port = config.smtp_host, config.smtp_port
    mailbox.tls_mode = config.smtp_tls.value
    mailbox.username = consented.email
    mailbox.smtp_password_encrypted = None
    mailbox.auth_method = AuthMethod.OAUTH2.value
    mailbox.oauth_provider = provider.value
    mailbox.oauth_refresh_token_encrypted = keyring.encrypt(consented.refresh_token)
    mailbox.imap_host, mailbox.imap_port = config.imap_host, config.imap_port
    mailbox.imap_tls, mailbox.imap_username = config.imap_tls, consented.email
    mailbox.imap_password_encrypted = None
    session.add(mailbox)
    session.flush()
    reconnect(session, mailbox, keyring, None, None)  # connected (unless paused), version + 1
    session.refresh(mailbox)
    return mailbox, created


_NEW_MAILBOX_OPTIONS = frozenset(
    {
        "from_name",
        "time_zone",
        "daily_limit",
        "min_gap_seconds",
        "send_days",
        "send_start",
        "send_end",
    }
)


def _target(session: Session, row: OAuthConnect, email: str, provider: Provider) -> Mailbox | None:
    """The mailbox to reconnect: the one named at the start (it must be this account's),
    else the workspace's mailbox of this account and provider, else None (a new one)."""
    if row.mailbox_id is not None:
        named = session.get(Mailbox, row.mailbox_id)
        if named is None:
            raise WrongAccount(f"mailbox {row.mailbox_id} no longer exists")
        addresses = {named.from_address.lower(), (named.username or "").lower()}
        if email not in addresses:
            raise WrongAccount(
                f"you signed in as {email}, but mailbox {row.mailbox_id} sends as "
                f"{named.from_address}; sign in with that account"
            )
        return named
    return session.exec(
        select(Mailbox)
        .where(
            func.lower(Mailbox.from_address) == email,
            Mailbox.auth_method == AuthMethod.OAUTH2.value,
            Mailbox.oauth_provider == provider.value,
        )
        .order_by(col(Mailbox.id))
    ).first()
