"""Send one message through a user's SMTP mailbox with aiosmtplib, step by step.

Stepping through the dialogue (connect, login, MAIL/RCPT, DATA) tells a failure
where it happened. That matters most at the end: a connection lost while the
message text was going out or waiting for the answer to the final "." may have
been delivered (RFC 1047), so it is an *unknown* outcome, never a plain retry.

Every connection goes through ``outbound.mail.hosts``: the host is resolved
and checked (no private addresses, mail ports only, unless allowed), the
socket is opened to the checked address, and what goes wrong before the
server has greeted us and agreed to talk is told in a fixed reason, never in
the words of whatever answered.
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
from outbound.mail.hosts import (
    CHECK_SECONDS,
    CHECK_STEP_SECONDS,
    HostPolicy,
    HostRefused,
    Unreachable,
    log_failure,
    open_socket,
    unreachable,
)
from outbound.mail.oauth_sasl import BearerSource, smtp_oauth_login
from outbound.mail.outcomes import Classified, Outcome, Stage, classify, classify_exception
from outbound.oauth.errors import TokenRefused, TokenUnavailable

_LOST = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError)
_ehlo_name: str | None = None


@dataclass(frozen=True)
class SmtpAccount:
    """Connection details of a mailbox; the password never leaves the worker process.

    A mailbox that signs in with OAuth has a ``bearer`` (its access tokens) instead of
    a password."""

    host: str
    port: int
    tls_mode: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer: BearerSource | None = field(default=None, repr=False)
    timeout_seconds: float = 60.0
    hosts: HostPolicy = field(default_factory=HostPolicy)


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
    sender = envelope_from or message["From"].addresses[0].addr_spec
    recipient = message["To"].addresses[0].addr_spec
    client = await _connected(account, account.timeout_seconds)
    stage = Stage.CONNECT
    try:
        if account.username:
            stage = Stage.AUTH
            await _log_in(client, account)
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
    except (TokenRefused, TokenUnavailable) as error:
        raise SendFailed(token_failure(error)) from None
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

    Within seconds (:data:`~outbound.mail.hosts.CHECK_SECONDS`). Raises
    :class:`~outbound.mail.hosts.HostRefused` for a host or port that may not
    be used, and :class:`SendFailed` whose reason is one of
    :class:`~outbound.mail.hosts.Unreachable` otherwise (``auth_failed`` for a
    refused login).
    """
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            client = await _connected(account, CHECK_STEP_SECONDS, refuse_as=None)
            try:
                if account.username:
                    await _log_in(client, account)
                await client.quit()
            finally:
                if client.is_connected:
                    client.close()
    except (TokenRefused, TokenUnavailable) as error:
        raise SendFailed(token_failure(error)) from None
    except aiosmtplib.SMTPException as error:
        log_failure("SMTP login check of", account.host, account.port, error)
        classified = classify_exception(error, Stage.AUTH)
        if classified.outcome is Outcome.AUTH_FAILED:
            raise SendFailed(_fixed(classified, Unreachable.LOGIN_REFUSED)) from error
        raise SendFailed(_fixed(classified, unreachable(error))) from error
    except TimeoutError as error:
        log_failure("SMTP login check of", account.host, account.port, error)
        raise SendFailed(_unreachable(Unreachable.TIMED_OUT)) from error


async def _log_in(client: aiosmtplib.SMTP, account: SmtpAccount) -> None:
    """AUTH with the account's access token (OAuth) or its username and password."""
    assert account.username is not None
    if account.bearer is not None:
        await smtp_oauth_login(client, account.username, account.bearer, account.host, account.port)
    else:
        await client.login(account.username, account.password or "")


def token_failure(error: TokenRefused | TokenUnavailable) -> Classified:
    """No access token: a refusal parks the mailbox (sign in again), an outage is retried."""
    if isinstance(error, TokenRefused):
        return Classified(Outcome.AUTH_FAILED, None, None, str(error))
    return Classified(Outcome.TRANSIENT, None, None, str(error))


async def _connected(
    account: SmtpAccount, step_seconds: float, refuse_as: Outcome | None = Outcome.SENDER_POLICY
) -> aiosmtplib.SMTP:
    """A client connected to the checked address of the account's host, greeted (and
    TLS set up); what goes wrong up to here is a fixed reason (details in the log).

    A host the policy refuses raises :class:`SendFailed` with ``refuse_as`` (a
    send parks the mailbox: it needs other settings), or :class:`HostRefused`."""
    try:
        destination = await account.hosts.destination(account.host, account.port)
    except HostRefused as refused:
        if refuse_as is None:
            raise
        raise SendFailed(
            Classified(refuse_as, None, None, f"mail host refused: {refused}")
        ) from None
    except (OSError, TimeoutError) as error:
        log_failure("SMTP resolving", account.host, account.port, error)
        raise SendFailed(_unreachable(unreachable(error))) from None
    try:
        sock = await open_socket(destination, step_seconds)
    except (OSError, TimeoutError) as error:
        log_failure("SMTP connection to", account.host, account.port, error)
        raise SendFailed(_unreachable(unreachable(error))) from None
    client = aiosmtplib.SMTP(
        hostname=destination.name,
        sock=sock,
        use_tls=account.tls_mode is TlsMode.TLS,
        start_tls=account.tls_mode is TlsMode.STARTTLS,
        timeout=step_seconds,
        local_hostname=await ehlo_name(),
    )
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError) as error:
        log_failure("SMTP greeting from", account.host, account.port, error)
        if client.is_connected:
            client.close()
        sock.close()
        classified = classify_exception(error, Stage.CONNECT)
        raise SendFailed(_fixed(classified, unreachable(error))) from None
    return client


def _unreachable(reason: Unreachable) -> Classified:
    return Classified(Outcome.TRANSIENT, None, None, reason.value)


def _fixed(classified: Classified, reason: Unreachable) -> Classified:
    """The outcome as classified, told in a fixed reason (and the reply code, if any)."""
    told = reason.value if classified.code is None else f"{reason.value} ({classified.code})"
    return Classified(classified.outcome, classified.code, classified.enhanced, told)
