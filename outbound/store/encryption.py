"""Secrets at rest: mailbox passwords and provider credentials are stored encrypted.

Fernet (the ``cryptography`` package: AES-128-CBC with an HMAC-SHA256, a
timestamp and a version byte) under the keys of ``OUTBOUND_ENCRYPTION_KEYS``.
Several keys can be given so that a key can be rotated: new values are
encrypted with the first, stored values are read with whichever key fits
(``MultiFernet``), and ``outbound admin rotate-secrets`` re-encrypts every
stored value with the first key, after which the others can be dropped.

A value that no configured key opens raises :class:`SecretUnreadable`, and the
API and the workers check one stored value as they start
(:func:`check_stored_secrets`), so a lost or mistyped key is a clear error at
start rather than garbage sent to a mail server later.

Usage::

    keyring = Keyring.from_settings(settings)
    stored = keyring.encrypt("app-password")
    keyring.decrypt(stored)  # "app-password"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from outbound.settings import Settings
from outbound.store.tables import Mailbox, OAuthConnect, SmsSender, WebhookSubscription


class SecretUnreadable(RuntimeError):
    """A stored secret that none of the configured keys decrypts."""


class NoEncryptionKey(RuntimeError):
    """``OUTBOUND_ENCRYPTION_KEYS`` is empty or holds something that is not a Fernet key."""


def new_key() -> str:
    """A fresh key for ``OUTBOUND_ENCRYPTION_KEYS`` (``outbound admin new-encryption-key``)."""
    return Fernet.generate_key().decode()


@dataclass(frozen=True)
class Keyring:
    """The configured keys; encrypts with the first, decrypts with any."""

    _fernet: MultiFernet

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Keyring:
        """A keyring of ``keys`` (newest first); refuses an empty list or a malformed key."""
        if not keys:
            raise NoEncryptionKey(
                "OUTBOUND_ENCRYPTION_KEYS is not set: give it a key made by "
                "`outbound admin new-encryption-key` (and keep it: stored passwords "
                "cannot be read without it)"
            )
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError):
                raise NoEncryptionKey(
                    f"key {number} of OUTBOUND_ENCRYPTION_KEYS is not a Fernet key "
                    "(32 url-safe base64-encoded bytes, as `outbound admin "
                    "new-encryption-key` prints)"
                ) from None
        return cls(MultiFernet(fernets))

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The keyring of this process's settings."""
        return cls.from_keys([key.get_secret_value() for key in settings.encryption_keys])

    def encrypt(self, plaintext: str) -> str:
        """The stored form of ``plaintext``, under the first key."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext of a stored value; :class:`SecretUnreadable` if no key opens it."""
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with OUTBOUND_ENCRYPTION_KEYS: the key it "
                "was encrypted with is missing (restore it; rotate afterwards with "
                "`outbound admin rotate-secrets`)"
            ) from None

    def rotate(self, stored: str) -> str:
        """``stored`` re-encrypted under the first key (the same plaintext)."""
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with OUTBOUND_ENCRYPTION_KEYS"
            ) from None

    def decrypt_optional(self, stored: str | None) -> str | None:
        """``decrypt`` for a column that may be empty."""
        return None if stored is None else self.decrypt(stored)

    def encrypt_optional(self, plaintext: str | None) -> str | None:
        """``encrypt`` for a value that may be absent."""
        return None if plaintext is None else self.encrypt(plaintext)


# Every encrypted column, by table: the start check and the rotation cover them all.
ENCRYPTED_COLUMNS: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (
        Mailbox,
        ("smtp_password_encrypted", "imap_password_encrypted", "oauth_refresh_token_encrypted"),
    ),
    (SmsSender, ("auth_token_encrypted",)),
    (OAuthConnect, ("code_verifier_encrypted",)),
    (WebhookSubscription, ("secret_encrypted",)),
)


def check_stored_secrets(engine: Engine, keyring: Keyring) -> None:
    """Decrypt one stored secret of each kind, so a lost key stops the process at start."""
    with Session(engine) as session:
        for table, names in ENCRYPTED_COLUMNS:
            for name in names:
                column = getattr(table, name)
                stored = session.exec(select(column).where(column.is_not(None)).limit(1)).first()
                if stored is None:
                    continue
                try:
                    keyring.decrypt(stored)
                except SecretUnreadable as unreadable:
                    raise SecretUnreadable(f"{table.__tablename__}.{name}: {unreadable}") from None


def rotate_stored_secrets(engine: Engine, keyring: Keyring) -> int:
    """Re-encrypt every stored secret under the first key; returns how many values changed."""
    rotated = 0
    with Session(engine) as session:
        for table, names in ENCRYPTED_COLUMNS:
            for row in session.exec(select(table)):
                for name in names:
                    stored = getattr(row, name)
                    if stored is not None:
                        setattr(row, name, keyring.rotate(stored))
                        rotated += 1
                session.add(row)
        session.commit()
    return rotated
