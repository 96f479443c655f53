"""An SMTP sink that fails on purpose, as scripted: how failure handling is tested and drilled.

Per recipient, a queue of actions is consumed one per attempt, at the RCPT or
the DATA stage: answer with a code and text, drop the connection, drop it
after accepting the message (the RFC 1047 "unknown outcome"), or answer slowly.
Logins can be refused (a revoked password). Everything that was actually accepted is recorded,
like the plain sink, so a test can check a message arrived exactly once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from outbound.devstack.sink import SinkHandler


@dataclass(frozen=True)
class Answer:
    """Reply with this SMTP code and text."""

    code: int
    text: str

    def line(self) -> str:
        """The reply line."""
        return f"{self.code} {self.text}"


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (at RCPT: before the message is sent)."""


@dataclass(frozen=True)
class DropAfterAccepting:
    """Keep the message, then close the connection instead of answering the final "."."""


@dataclass(frozen=True)
class Slow:
    """Answer normally after ``seconds``."""

    seconds: float


Action = Answer | Drop | DropAfterAccepting | Slow


class FaultSinkHandler(SinkHandler):
    """A sink whose answers a test scripts per recipient and per attempt."""

    def __init__(self) -> None:
        super().__init__()
        self._at_rcpt: defaultdict[str, deque[Action]] = defaultdict(deque)
        self._at_data: defaultdict[str, deque[Action]] = defaultdict(deque)
        self.refuse_logins = False
        self.logins: list[tuple[bytes, bytes]] = []  # (login, password) of each AUTH accepted
        self.attempts: defaultdict[str, int] = defaultdict(int)
        # Recipients whose whole message is in, its answer held back by a Slow action: the
        # sender has handed it over and waits, so a test can kill the sender mid-send.
        self.holding: set[str] = set()

    def at_rcpt(self, address: str, *actions: Action) -> None:
        """The next attempts to ``address`` meet these actions at RCPT TO, in order."""
        self._at_rcpt[address.lower()].extend(actions)

    def at_data(self, address: str, *actions: Action) -> None:
        """The next messages to ``address`` meet these actions at the end of DATA, in order."""
        self._at_data[address.lower()].extend(actions)

    def authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
    ) -> AuthResult:
        """aiosmtpd authenticator: refuse every login while ``refuse_logins`` is set
        (a changed or revoked password, until the user reconnects the mailbox)."""
        if self.refuse_logins:
            return AuthResult(success=False, handled=False)
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
        return AuthResult(
            success=True, auth_data=data.login if isinstance(data, LoginPassword) else None
        )

    async def handle_RCPT(
        self, server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str | None:
        """Apply the next scripted action for ``address``, else accept it."""
        self.attempts[address.lower()] += 1
        action = _next(self._at_rcpt, address)
        if isinstance(action, Answer):
            return action.line()
        if isinstance(action, Drop | DropAfterAccepting):
            _drop(server)
            return None
        if isinstance(action, Slow):
            await asyncio.sleep(action.seconds)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Apply the next scripted action for the (first) recipient, else accept the message."""
        action = _next(self._at_data, envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        if isinstance(action, Answer):
            return action.line()
        if isinstance(action, Drop):
            _drop(server)
            return "421 closing"
        if isinstance(action, Slow):
            recipient = envelope.rcpt_tos[0].lower()
            self.holding.add(recipient)
            try:
                await asyncio.sleep(action.seconds)
            finally:
                self.holding.discard(recipient)
        accepted = await super().handle_DATA(server, session, envelope)
        if isinstance(action, DropAfterAccepting):
            _drop(server)
        return accepted


def _next(queues: defaultdict[str, deque[Action]], address: str) -> Action | None:
    queue = queues.get(address.lower())
    return queue.popleft() if queue else None


def _drop(server: SMTP) -> None:
    if isinstance(server.transport, asyncio.Transport):
        server.transport.abort()
