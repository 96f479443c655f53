"""The signed links of one message, and its body as sent (tracked or not).

URLs: ``/unsubscribe/{token}`` (RFC 8058 one-click POST, or a confirmation
page on GET), ``/track/open/{token}`` (the pixel) and ``/track/click/{token}``
(the redirect). The token names the message log row (and the link), signed;
see ``outbound.tracking.tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlmodel import Session, col, delete

from outbound.store.tables import Campaign, Mailbox, TrackedLink
from outbound.tracking.links import html_alternative, rewrite_links
from outbound.tracking.tokens import LinkSigner, LinkTarget, Purpose

UNSUBSCRIBE_SUBJECT = "unsubscribe"


class MessageLinks:
    """Every link one message carries, signed for its log row."""

    def __init__(self, signer: LinkSigner, base_url: str, message_row_id: int) -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")
        self.message_row_id = message_row_id

    @property
    def unsubscribe_token(self) -> str:
        return self._signer.sign(Purpose.UNSUBSCRIBE, LinkTarget(self.message_row_id))

    @property
    def unsubscribe_url(self) -> str:
        return f"{self._base}/unsubscribe/{self.unsubscribe_token}"

    @property
    def open_url(self) -> str:
        token = self._signer.sign(Purpose.OPEN, LinkTarget(self.message_row_id))
        return f"{self._base}/track/open/{token}"

    def click_url(self, position: int) -> str:
        token = self._signer.sign(Purpose.CLICK, LinkTarget(self.message_row_id, position))
        return f"{self._base}/track/click/{token}"

    def unsubscribe_mailto(self, mailbox: Mailbox) -> str | None:
        """A mailto the mailbox itself can read (inbox sync or the inbound webhook), else None:
        an unsubscribe mail nobody reads would be a promise we cannot keep."""
        if mailbox.imap_host is None and mailbox.inbound_secret_hash is None:
            return None
        subject = quote(f"{UNSUBSCRIBE_SUBJECT} {self.unsubscribe_token}")
        return f"mailto:{mailbox.from_address}?subject={subject}"


@dataclass(frozen=True)
class SentBody:
    """The plain text as sent, and the HTML alternative when opens are tracked."""

    text: str
    html: str | None


def tracked_body(session: Session, campaign: Campaign, links: MessageLinks, text: str) -> SentBody:
    """Apply the campaign's tracking to ``text``; store the original link targets.

    A retried send stores them again (same body, same positions), replacing the
    rows of the earlier attempt.
    """
    if campaign.track_clicks:
        rewritten = rewrite_links(text, links.click_url, keep=links.unsubscribe_url)
        stale = delete(TrackedLink).where(col(TrackedLink.message_row_id) == links.message_row_id)
        session.exec(stale)  # type: ignore[call-overload]
        session.add_all(
            TrackedLink(message_row_id=links.message_row_id, position=position, url=url)
            for position, url in rewritten.links.items()
        )
        text = rewritten.text
    if not campaign.track_opens:
        return SentBody(text, None)
    return SentBody(text, html_alternative(text, links.open_url))
