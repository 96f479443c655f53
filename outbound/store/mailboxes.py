"""A mailbox's connection: its SMTP account, parking after a refused login, reconnecting.

A mailbox whose provider refuses our login (or our sender setup) is parked
("needs re-authentication"): its sequences wait instead of failing. Each
reconnect bumps ``connection_version``; a parked sequence goes on once it hears
of a version newer than the one that failed, so a signal that arrives before
the failure is recorded is never lost.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from outbound.domain.statuses import AuthMethod, MailboxConnection, ProspectStatus, TlsMode
from outbound.mail.hosts import HostPolicy
from outbound.mail.imap import ImapAccount
from outbound.mail.oauth_sasl import BearerSource
from outbound.mail.smtp import SmtpAccount
from outbound.oauth.providers import Provider
from outbound.oauth.tokens import AccessTokens, OAuthLogin
from outbound.store.encryption import Keyring
from outbound.store.sending_mailbox import SENDING_MAILBOX_ID
from outbound.store.tables import Campaign, Enrollment, Mailbox

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


def smtp_account(
    mailbox: Mailbox,
    keyring: Keyring,
    username: str | None = None,
    password: str | None = None,
    *,
    hosts: HostPolicy,
    tokens: AccessTokens,
) -> SmtpAccount:
    """The mailbox's SMTP account, its password decrypted (or, signing in with OAuth, its
    access tokens from ``tokens``), optionally with new credentials to try; ``hosts``
    says which servers it may connect to (``HostPolicy.from_settings``)."""
    bearer = bearer_for(mailbox, tokens)
    return SmtpAccount(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        tls_mode=TlsMode(mailbox.tls_mode),
        username=username if username is not None else mailbox.username,
        password=None if bearer is not None else _password(password, mailbox, keyring),
        bearer=bearer,
        hosts=hosts,
    )


def _password(given: str | None, mailbox: Mailbox, keyring: Keyring) -> str | None:
    """A password to try, else the stored one (decrypted)."""
    return given if given is not None else keyring.decrypt_optional(mailbox.smtp_password_encrypted)


def imap_account(
    mailbox: Mailbox, keyring: Keyring, *, hosts: HostPolicy, tokens: AccessTokens
) -> ImapAccount | None:
    """The mailbox's IMAP account, or None when it has no inbox sync configured."""
    if not mailbox.imap_host or not mailbox.imap_username:
        return None
    bearer = bearer_for(mailbox, tokens)
    return ImapAccount(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        tls=mailbox.imap_tls,
        username=mailbox.imap_username,
        password=""
        if bearer is not None
        else keyring.decrypt_optional(mailbox.imap_password_encrypted) or "",
        bearer=bearer,
        folder=mailbox.imap_folder,
        hosts=hosts,
    )


def bearer_for(mailbox: Mailbox, tokens: AccessTokens) -> BearerSource | None:
    """Where an OAuth mailbox's access tokens come from; None for a password mailbox."""
    if mailbox.auth_method != AuthMethod.OAUTH2 or mailbox.oauth_provider is None:
        return None
    assert mailbox.id is not None and mailbox.username is not None
    login = OAuthLogin(
        mailbox.id, mailbox.connection_version, Provider(mailbox.oauth_provider), mailbox.username
    )

    async def bearer(refused: str | None) -> str:
        return await tokens.access_token(login, refused=refused)

    return bearer


def reconnect_hint(mailbox: Mailbox) -> str:
    """How a user reconnects this mailbox: new credentials, or signing in again."""
    if mailbox.auth_method == AuthMethod.OAUTH2 and mailbox.oauth_provider:
        return (
            f"sign in again with POST /mailboxes/oauth/{mailbox.oauth_provider}/start "
            f'and {{"mailbox_id": {mailbox.id}}}'
        )
    return f"reconnect it with POST /mailboxes/{mailbox.id}/reconnect"


def park(session: Session, mailbox: Mailbox, problem: str) -> None:
    """Mark the mailbox as needing re-authentication, saying why (commits)."""
    mailbox.connection_state = MailboxConnection.NEEDS_REAUTH.value
    mailbox.connection_problem = problem[:500]
    session.add(mailbox)
    session.commit()


def reconnect(
    session: Session,
    mailbox: Mailbox,
    keyring: Keyring,
    username: str | None,
    password: str | None,
) -> int:
    """Store working credentials (the password encrypted) and clear the parking; returns
    the new connection version.

    A mailbox the reputation guard paused stays paused: new credentials do not mend a
    sender's reputation; only a resume does (``outbound.store.reputation.resume``)."""
    if username is not None:
        mailbox.username = username
    if password is not None:
        mailbox.smtp_password_encrypted = keyring.encrypt(password)
    if mailbox.connection_state != MailboxConnection.PAUSED_REPUTATION:
        mailbox.connection_state = MailboxConnection.CONNECTED.value
    mailbox.connection_problem = None
    mailbox.connection_version += 1
    session.add(mailbox)
    session.commit()
    return mailbox.connection_version


def sequences_to_resume(session: Session, mailbox: Mailbox) -> list[str]:
    """After a reconnect: the sequences to signal, none while the reputation guard keeps the
    mailbox paused (they would only be refused again)."""
    assert mailbox.id is not None
    if mailbox.connection_state != MailboxConnection.CONNECTED:
        return []
    return running_workflow_ids(session, mailbox.id)


def running_workflow_ids(session: Session, mailbox_id: int) -> list[str]:
    """Workflows of sequences that send through the mailbox and have not ended.

    A prospect of a pool campaign who has no mailbox yet is not one of them: the
    workflow keeps one connection version, so hearing this mailbox's version would let
    it pass a later wait on another mailbox of the pool whose version is lower."""
    found = session.exec(
        select(col(Enrollment.workflow_id), Enrollment.mailbox_id, Campaign.mailbox_pool)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(
            mailbox_id == SENDING_MAILBOX_ID,
            col(Enrollment.workflow_id).is_not(None),
            col(Enrollment.status).not_in(_ENDED),
        )
    )
    return [
        workflow_id
        for workflow_id, assigned, pool in found
        if workflow_id is not None and (assigned is not None or not pool)
    ]
