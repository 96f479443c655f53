"""The local SMS gateway, a webhook receiver and Twilio's SDK, all on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outbound.devstack.loopback import LoopbackServer
from outbound.devstack.sms_gateway import SmsGateway
from outbound.sms.provider import ProviderCredentials
from outbound.sms.twilio_provider import TwilioProvider

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tests-only-auth-token-0123456789"
OUR_NUMBER = "+15550100000"
DELAY = 0.01  # seconds before each status callback
WAIT = 5.0  # seconds a test waits for a webhook before failing


@dataclass(frozen=True)
class Received:
    """One webhook as the receiver got it."""

    path: str
    params: dict[str, str]
    signature: str


@dataclass
class Receiver:
    """Our side of the webhooks: records each and answers with ``reply(params)``."""

    reply: Callable[[dict[str, str]], tuple[str, str]] = lambda _params: ("text/plain", "")
    received: list[Received] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    url: str = ""

    def app(self) -> Starlette:
        """Every path takes a form POST."""
        return Starlette(routes=[Route("/{path:path}", self._take, methods=["POST"])])

    async def _take(self, request: Request) -> Response:
        """Record the webhook and answer it."""
        params = {key: str(value) for key, value in (await request.form()).items()}
        signature = request.headers.get("x-twilio-signature", "")
        async with self.changed:
            self.received.append(Received(request.url.path, params, signature))
            self.changed.notify_all()
        content_type, body = self.reply(params)
        return Response(body, media_type=content_type)

    async def wait_for(self, count: int) -> list[Received]:
        """The first ``count`` webhooks, once they are in (fails after ``WAIT`` seconds)."""
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]


@pytest.fixture
def credentials() -> ProviderCredentials:
    """The tests' account, sending from one number."""
    return ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN, from_number=OUR_NUMBER)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP server for status callbacks and inbound webhooks."""
    taker = Receiver()
    server = LoopbackServer(taker.app())
    await server.start()
    taker.url = server.url
    try:
        yield taker
    finally:
        await server.stop()


@pytest.fixture
async def gateway(tmp_path: Path, receiver: Receiver) -> AsyncIterator[SmsGateway]:
    """The gateway, quick callbacks, its sink in ``tmp_path/sms``, inbound texts to the
    receiver's ``/inbound``."""
    async with SmsGateway(
        {ACCOUNT_SID: AUTH_TOKEN},
        delay=DELAY,
        folder=tmp_path / "sms",
        inbound_url=f"{receiver.url}/inbound",
    ) as running:
        yield running


@pytest.fixture
def provider(gateway: SmsGateway) -> TwilioProvider:
    """Twilio's SDK, talking to the gateway."""
    return TwilioProvider(gateway.url, timeout=5)
