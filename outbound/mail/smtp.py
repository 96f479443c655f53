"""Send one message through a user's SMTP mailbox with aiosmtplib, step by step.

Stepping through the dialogue (connect, login, MAIL/RCPT, DATA) tells a failure
where it happened. That matters most at the end: a connection lost while the
message text was going out or waiting for the answer to the final "." may have
been delivered (RFC 1047), so it is an *unknown* outcome, never a plain retry.
"""

from __future__ import annotations

import asyncio
import email.policy
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from outbound.domain.statuses import TlsMode
from outbound.mail.outcomes import Classified, Stage, classify, classify_exception

_LOST = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError)
_ehlo_name: str | None = None


@dataclass(frozen=True)
class SmtpAccount:
    """Connection details of a mailbox; the password never leaves the worker process."""

    host: str
    port: int
    tls_mode: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 60.0


async def ehlo_name() -> str:
    """This host's name for EHLO, looked up once per process.

    aiosmtplib otherwise asks ``socket.getfqdn`` on a thread for every
    connection, and the answer does not change while the worker runs.
    """
    global _ehlo_name
    if _ehlo_name is None:
        _ehlo_name = await asyncio.to_thread(socket.getfqdn)
    return _ehlo_name


class SendFailed(Exception):
    """The send did not succeed; ``classified`` says what to do about it."""

    def __init__(self, classified: Classified) -> None:
        super().__init__(classified.reason)
        self.classified = classified


async def send_message(
    account: SmtpAccount,
    message: EmailMessage,
    envelope_from: str | None = None,
    *,
    before_data: Callable[[], Awaitable[None]] | None = None,
    accepted: Callable[[], Awaitable[None]] | None = None,
) -> Classified:
    """Deliver ``message`` to its ``To`` address; returns the server's acceptance.

    ``before_data`` runs once the envelope is accepted, right before the message
    is handed over: a process that dies before it leaves nothing at the server
    (an unfinished transaction is discarded), one that dies after it may have
    delivered. ``accepted`` runs as soon as the server has answered 250, before
    the polite QUIT, so that the window in which an answer can be lost is as
    short as one database write. Raises :class:`SendFailed` with the classified
    outcome otherwise.
    """
    client = aiosmtplib.SMTP(
        hostname=account.host,
        port=account.port,
        use_tls=account.tls_mode is TlsMode.TLS,
        start_tls=account.tls_mode is TlsMode.STARTTLS,
        timeout=account.timeout_seconds,
        local_hostname=await ehlo_name(),
    )
    sender = envelope_from or message["From"].addresses[0].addr_spec
    recipient = message["To"].addresses[0].addr_spec
    stage = Stage.CONNECT
    try:
        await client.connect()
        if account.username:
            stage = Stage.AUTH
            await client.login(account.username, account.password or "")
        stage = Stage.ENVELOPE
        await client.mail(sender)
        await client.rcpt(recipient)
        if before_data is not None:
            await before_data()
        stage = Stage.DATA
        reply = await client.data(message.as_bytes(policy=email.policy.SMTP))
        stage = Stage.AFTER_DATA
        if accepted is not None:
            await accepted()
        await client.quit()
    except aiosmtplib.SMTPException as error:
        if stage is Stage.AFTER_DATA:  # accepted; only the polite QUIT failed
            return classify(reply.code, reply.message, Stage.AFTER_DATA)
        where = Stage.AFTER_DATA if stage is Stage.DATA and isinstance(error, _LOST) else stage
        raise SendFailed(classify_exception(error, where)) from error
    finally:
        if client.is_connected:
            client.close()
    return classify(reply.code, reply.message, Stage.AFTER_DATA)


async def check_login(account: SmtpAccount) -> None:
    """Connect and log in without sending: is the mailbox reachable and authenticated?

    Raises :class:`SendFailed` with the classified answer (``auth_failed`` for a
    refused login, ``transient`` for a server that cannot be reached).
    """
    client = aiosmtplib.SMTP(
        hostname=account.host,
        port=account.port,
        use_tls=account.tls_mode is TlsMode.TLS,
        start_tls=account.tls_mode is TlsMode.STARTTLS,
        timeout=account.timeout_seconds,
        local_hostname=await ehlo_name(),
    )
    stage = Stage.CONNECT
    try:
        await client.connect()
        if account.username:
            stage = Stage.AUTH
            await client.login(account.username, account.password or "")
        await client.quit()
    except aiosmtplib.SMTPException as error:
        raise SendFailed(classify_exception(error, stage)) from error
    finally:
        if client.is_connected:
            client.close()
