"""Send one message through a user's SMTP mailbox with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from outbound.domain.statuses import TlsMode


@dataclass(frozen=True)
class SmtpAccount:
    """Connection details of a mailbox; the password never leaves the worker process."""

    host: str
    port: int
    tls_mode: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 60.0


async def send_message(account: SmtpAccount, message: EmailMessage) -> str:
    """Deliver ``message`` to the SMTP server; returns the server's final reply text.

    Raises aiosmtplib's exceptions unchanged, so callers can classify the
    failure from the reply code.
    """
    _errors, reply = await aiosmtplib.send(
        message,
        hostname=account.host,
        port=account.port,
        username=account.username or None,
        password=account.password if account.username else None,
        use_tls=account.tls_mode is TlsMode.TLS,
        start_tls=account.tls_mode is TlsMode.STARTTLS,
        timeout=account.timeout_seconds,
    )
    return reply
