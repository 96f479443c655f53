"""The inbound webhook: providers post a mailbox's raw RFC 822 messages here.

``POST /inbound/{mailbox_id}`` with ``Authorization: Bearer <secret>`` (made by
``POST /mailboxes/{id}/inbound-secret`` on the management API). A wrong or
missing secret is a 401 and records nothing; bytes that are not a message are
a 400 with the reason; the same message posted twice (or also read by inbox
sync) acts once. A public route: the secret is its proof, no API key.

The body is read as it streams into a spool that keeps at most
:data:`IN_MEMORY_BYTES` in memory and the rest in a temporary file: a body over
the limit (cut by ``outbound.api.limits`` at its first chunk past 25 MiB when it
comes without a ``Content-Length``) costs the process a few MB of memory, not
the 25 MB read before the cut. Only a whole message within the limit is read
into memory, to be parsed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from tempfile import SpooledTemporaryFile
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session

from outbound.api.deps import TemporalDep
from outbound.domain.problems import Problem, ProblemError
from outbound.inbound.classify import MalformedMessage, MessageTooComplex
from outbound.inbound.pipeline import InboundOutcome, handle_inbound
from outbound.store.reputation import ReputationLimits
from outbound.store.tables import Mailbox

router = APIRouter(tags=["inbound mail"])

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # providers' own limit for one message
IN_MEMORY_BYTES = 1024 * 1024  # more of a body than this waits in a temporary file


@router.post("/inbound/{mailbox_id}", status_code=202)
async def receive_message(
    mailbox_id: int,
    request: Request,
    temporal: TemporalDep,
    authorization: Annotated[str | None, Header()] = None,
) -> InboundOutcome:
    """Process one raw RFC 822 message (the request body) for this mailbox."""
    engine: Engine = request.app.state.engine
    await asyncio.to_thread(_authenticate, engine, mailbox_id, authorization)
    raw = await _message(request)
    try:
        return await handle_inbound(
            engine,
            temporal,
            mailbox_id,
            raw,
            "webhook",
            request.app.state.signer,
            reputation=ReputationLimits.from_settings(request.app.state.settings),
        )
    except MessageTooComplex as refused:
        raise ProblemError(
            400, [Problem(field="body", reason=f"past a limit: {refused}")]
        ) from None
    except MalformedMessage as malformed:
        raise ProblemError(
            400, [Problem(field="body", reason=f"not an RFC 822 message: {malformed}")]
        ) from None


async def _message(request: Request) -> bytes:
    """The body, spooled as it streams (see the module docstring); 413 past the limit."""
    with SpooledTemporaryFile(max_size=IN_MEMORY_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_MESSAGE_BYTES:
                raise ProblemError(413, [Problem(field="body", reason="message larger than 25 MB")])
            if size > IN_MEMORY_BYTES:  # on disk (or about to be): not in the event loop
                await asyncio.to_thread(spool.write, chunk)
            else:
                spool.write(chunk)
        spool.seek(0)
        return await asyncio.to_thread(spool.read)


def _authenticate(engine: Engine, mailbox_id: int, authorization: str | None) -> None:
    """401 unless the Bearer secret is this mailbox's (constant-time); an unknown mailbox
    answers the same, so the endpoint does not tell which mailboxes exist."""
    scheme, _, given = (authorization or "").partition(" ")
    with Session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        expected = mailbox.inbound_secret_hash if mailbox is not None else None
    if scheme.lower() != "bearer" or expected is None or not given:
        raise _unauthorised()
    if not hmac.compare_digest(secret_digest(given.strip()), expected):
        raise _unauthorised()


def secret_digest(secret: str) -> str:
    """How the webhook's secret is stored: a SHA-256 digest (the secret is 256 random bits,
    made by us; only its digest is kept, so the database cannot reveal it)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthorised() -> ProblemError:
    return ProblemError(
        401, [Problem(field="authorization", reason="missing or wrong inbound secret")]
    )
