"""Recipients' one-click unsubscribe (RFC 8058), reached from the List-Unsubscribe header.

``POST /unsubscribe/{token}`` with the body ``List-Unsubscribe=One-Click`` is
what Gmail, Yahoo and Apple Mail send: it answers 200 at once, with no
redirect and no cookie, and doing it twice is harmless. ``GET`` (a person who
clicked the link in the body, or a mail scanner following every link) only
shows a page with a button that makes that same POST: nothing is changed by a
GET. A token that fails its signature check is a 400 and changes nothing.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from outbound.api.deps import TemporalDep
from outbound.tracking.optout import opt_out
from outbound.tracking.tokens import LinkSigner, Purpose

router = APIRouter(prefix="/unsubscribe", tags=["recipients"])

_ONE_CLICK = "One-Click"
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 4em auto;">
<h1 style="font-size: 1.3em;">{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=escape(title), body=body),
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _invalid() -> HTMLResponse:
    return _page(
        "This unsubscribe link is not valid",
        "<p>The link may have been cut or changed. Reply to the message and ask the "
        "sender to stop instead.</p>",
        status_code=400,
    )


@router.get("/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request) -> HTMLResponse:
    """Ask before acting: link scanners fetch every URL in a message."""
    signer: LinkSigner = request.app.state.signer
    if signer.read(Purpose.UNSUBSCRIBE, token) is None:
        return _invalid()
    return _page(
        "Unsubscribe",
        f'<form method="post" action="{escape(token)}">'
        f'<input type="hidden" name="List-Unsubscribe" value="{_ONE_CLICK}">'
        "<p>Stop receiving messages from this sender?</p>"
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post("/{token}", response_class=HTMLResponse)
async def one_click(
    token: str,
    request: Request,
    temporal: TemporalDep,
    list_unsubscribe: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
) -> HTMLResponse:
    """Suppress the address for this sender and stop every sequence to it (idempotent)."""
    signer: LinkSigner = request.app.state.signer
    target = signer.read(Purpose.UNSUBSCRIBE, token)
    if target is None:
        return _invalid()
    if list_unsubscribe != _ONE_CLICK:
        return _page(
            "Nothing was changed",
            "<p>An unsubscribe request carries <code>List-Unsubscribe=One-Click</code>.</p>",
            status_code=400,
        )
    done = await opt_out(request.app.state.engine, temporal, target, "one-click")
    if done is None:
        return _invalid()
    return _page("You are unsubscribed", "<p>You will not receive further messages.</p>")
