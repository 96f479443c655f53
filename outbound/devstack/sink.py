"""A local SMTP sink (aiosmtpd) that keeps every message it receives.

Each message is written as one ``.eml`` file, with the SMTP envelope recorded
in ``X-Sink-Envelope-From`` / ``X-Sink-Envelope-To`` headers at the top, so a
person can open it in any mail reader and a test can check who it went to.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the sink received it."""

    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    path: Path | None
    raw: bytes = b""  # the message exactly as it came over the wire (CRLF line ends)


class SinkHandler:
    """aiosmtpd handler: accept everything, remember it in memory and (optionally) on disk."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.received: list[ReceivedMessage] = []
        self._counter = itertools.count(1)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        """Store the message and answer 250."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        header = (
            f"X-Sink-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Sink-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = None
        if self.folder is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = self.folder / f"{stamp}-{next(self._counter):06d}.eml"
            await asyncio.to_thread(path.write_bytes, header + raw)
        parsed = _parse(raw)
        self.received.append(
            ReceivedMessage(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, path, raw)
        )
        _log.info("sink received %s for %s", parsed.get("Message-ID"), envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def accept_any_login(
    _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth_data: object
) -> AuthResult:
    """Like a real submission server the sink asks for AUTH, but any credentials pass."""
    if isinstance(auth_data, LoginPassword):
        return AuthResult(success=True, auth_data=auth_data.login)
    return AuthResult(success=True)


class _LibraryNoise(logging.Filter):
    """aiosmtpd itself sets its deprecated ``Session.login_data`` on every AUTH and logs a
    deprecation warning each time: one line per message at the sink, about nothing we do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_AIOSMTPD_LOG = logging.getLogger("mail.log")
_NOISE = _LibraryNoise()


def start_sink(
    handler: SinkHandler,
    host: str = "127.0.0.1",
    port: int = 0,
    authenticator: Callable[..., AuthResult] = accept_any_login,
) -> Controller:
    """Start the sink in a background thread; ``port=0`` picks a free port (see ``.port``)."""
    if _NOISE not in _AIOSMTPD_LOG.filters:
        _AIOSMTPD_LOG.addFilter(_NOISE)
    controller = Controller(
        handler,
        hostname=host,
        port=port or _free_port(host),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    return controller


def read_sink_folder(folder: Path) -> list[tuple[Path, EmailMessage]]:
    """The messages stored in ``folder``, oldest first."""
    return [(path, _parse(path.read_bytes())) for path in sorted(folder.glob("*.eml"))]


def _parse(raw: bytes) -> EmailMessage:
    """Parse wire-format (CRLF) bytes into a message with Python's newlines."""
    parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
