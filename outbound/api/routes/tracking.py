"""The open pixel and the click redirect of tracked messages.

The redirect goes only to the URL stored for (message, link position) when
the message was sent: the token is all the request says, so neither a
``url=`` parameter nor an altered token can send anyone elsewhere (no open
redirect). The pixel answers the same image whatever the token, so a guess
learns nothing; only a genuine token is recorded.
"""

from __future__ import annotations

import asyncio
import base64

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, select

from outbound.domain.problems import Problem, ProblemError
from outbound.store.tables import Enrollment, Message, TrackedLink, TrackingEvent
from outbound.store.webhooks import emit
from outbound.tracking.message_links import message_row_of
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose
from outbound.webhooks.dispatch import Dispatcher
from outbound.webhooks.events import tracked

router = APIRouter(prefix="/track", tags=["recipients"])

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, max-age=0"}


@router.get("/open/{token}", response_class=Response)
async def open_pixel(token: str, request: Request) -> Response:
    """A 1×1 transparent GIF; records an open for a genuine token."""
    signer: LinkSigner = request.app.state.signer
    target = signer.read(Purpose.OPEN, token)
    if target is not None:
        await asyncio.to_thread(_record, request.app.state.engine, target, Purpose.OPEN)
        await _dispatch(request)
    return Response(_PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/click/{token}", response_class=RedirectResponse, status_code=302)
async def click(token: str, request: Request) -> RedirectResponse:
    """Record the click and redirect to the link as it was in the message."""
    signer: LinkSigner = request.app.state.signer
    target = signer.read(Purpose.CLICK, token)
    url = None
    if target is not None and target.link_position is not None:
        url = await asyncio.to_thread(_record, request.app.state.engine, target, Purpose.CLICK)
        await _dispatch(request)
    if url is None:
        raise ProblemError(404, [Problem(field="token", reason="unknown or altered link")])
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


def _record(engine: Engine, target: LinkTarget, purpose: Purpose) -> str | None:
    """Store the hit; for a click, the stored URL (None if the link does not exist)."""
    link_position = target.link_position
    with Session(engine) as session:
        message_row_id = message_row_of(session, target, purpose)
        if message_row_id is None:
            return None
        url = None
        if link_position is not None:
            url = session.exec(
                select(TrackedLink.url).where(
                    TrackedLink.message_row_id == message_row_id,
                    TrackedLink.position == link_position,
                )
            ).first()
            if url is None:
                return None
        hit = TrackingEvent(
            message_row_id=message_row_id,
            kind="open" if link_position is None else "click",
            link_position=link_position,
        )
        session.add(hit)
        session.flush()
        assert hit.id is not None
        message = session.get_one(Message, message_row_id)
        enrollment = session.get_one(Enrollment, message.enrollment_id)
        emit(
            session.connection(),
            enrollment.workspace_id,
            [tracked(hit.kind, hit.id, message, enrollment, link_position)],
        )
        session.commit()
        return url


async def _dispatch(request: Request) -> None:
    """Start the webhook deliveries of what was just stored (if anyone subscribed)."""
    dispatcher: Dispatcher = request.app.state.webhooks
    await dispatcher.dispatch(request.app.state.engine, request.app.state.temporal)
