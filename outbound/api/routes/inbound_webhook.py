"""The inbound webhook: providers post a mailbox's raw RFC 822 messages here.

``POST /inbound/{mailbox_id}`` with ``Authorization: Bearer <secret>`` (made by
``POST /mailboxes/{id}/inbound-secret`` on the management API). A wrong or
missing secret is a 401 and records nothing; bytes that are not a message are
a 400 with the reason; the same message posted twice (or also read by inbox
sync) acts once. A public route: the secret is its proof, no API key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session

from outbound.api.deps import TemporalDep
from outbound.domain.problems import Problem, ProblemError
from outbound.inbound.classify import MalformedMessage, MessageTooComplex
from outbound.inbound.pipeline import InboundOutcome, handle_inbound
from outbound.store.tables import Mailbox

router = APIRouter(tags=["inbound mail"])

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # providers' own limit for one message


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
    raw = await request.body()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProblemError(413, [Problem(field="body", reason="message larger than 25 MB")])
    try:
        return await handle_inbound(
            engine, temporal, mailbox_id, raw, "webhook", request.app.state.signer
        )
    except MessageTooComplex as refused:
        raise ProblemError(
            400, [Problem(field="body", reason=f"past a limit: {refused}")]
        ) from None
    except MalformedMessage as malformed:
        raise ProblemError(
            400, [Problem(field="body", reason=f"not an RFC 822 message: {malformed}")]
        ) from None


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
