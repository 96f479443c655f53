"""The signed links of one message, and its body as sent (tracked or not).

URLs: ``/unsubscribe/{token}`` (RFC 8058 one-click POST, or a confirmation
page on GET), ``/track/open/{token}`` (the pixel) and ``/track/click/{token}``
(the redirect). The token names the message by its link key (and the link),
signed; see ``outbound.tracking.tokens``. Everything here but the two store
functions at the end is pure, so a send builds its message before it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sqlmodel import Session, col, delete, select

from outbound.store.tables import Campaign, Mailbox, Message, MessageLink, TrackedLink
from outbound.tracking.links import html_alternative, rewrite_links
from outbound.tracking.tokens import LIFETIMES, LinkSigner, LinkTarget, Purpose

UNSUBSCRIBE_SUBJECT = "unsubscribe"


class MessageLinks:
    """Every link one message carries, signed for its link key."""

    def __init__(self, signer: LinkSigner, base_url: str, link_key: str) -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")
        self.link_key = link_key

    @property
    def unsubscribe_token(self) -> str:
        return self._signer.sign(Purpose.UNSUBSCRIBE, self.link_key)

    @property
    def unsubscribe_url(self) -> str:
        return f"{self._base}/unsubscribe/{self.unsubscribe_token}"

    @property
    def open_url(self) -> str:
        token = self._signer.sign(Purpose.OPEN, self.link_key)
        return f"{self._base}/track/open/{token}"

    def click_url(self, position: int) -> str:
        token = self._signer.sign(Purpose.CLICK, self.link_key, position)
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
    """The plain text as sent, the HTML alternative when opens are tracked, and the
    original URLs by link position when clicks are (None when they are not)."""

    text: str
    html: str | None
    links: dict[int, str] | None


def tracked_body(campaign: Campaign, links: MessageLinks, text: str) -> SentBody:
    """Apply the campaign's tracking to ``text``."""
    targets = None
    if campaign.track_clicks:
        rewritten = rewrite_links(text, links.click_url, keep=links.unsubscribe_url)
        text, targets = rewritten.text, rewritten.links
    if not campaign.track_opens:
        return SentBody(text, None, targets)
    return SentBody(text, html_alternative(text, links.open_url), targets)


def stored_link_key(session: Session, message_row_id: int) -> str | None:
    return session.exec(
        select(MessageLink.key).where(MessageLink.message_row_id == message_row_id)
    ).first()


def store_links(session: Session, message_row_id: int, new_key: str | None, body: SentBody) -> None:
    """Record the message's link key (unless stored already: ``new_key`` None) and its
    links' targets, in the caller's transaction.

    A retried send stores the targets again (same body, same positions),
    replacing the rows of the earlier attempt.
    """
    if new_key is not None:
        session.add(MessageLink(key=new_key, message_row_id=message_row_id))
    if body.links is not None:
        stale = delete(TrackedLink).where(col(TrackedLink.message_row_id) == message_row_id)
        session.exec(stale)  # type: ignore[call-overload]
        session.add_all(
            TrackedLink(message_row_id=message_row_id, position=position, url=url)
            for position, url in body.links.items()
        )


def message_row_of(
    session: Session, target: LinkTarget, purpose: Purpose, now: datetime | None = None
) -> int | None:
    """The message log row a token names, or None (unknown, or an old token aged out)."""
    if target.link_key is not None:
        return session.exec(
            select(MessageLink.message_row_id).where(MessageLink.key == target.link_key)
        ).first()
    created = session.exec(select(Message.created_at).where(Message.id == target.row_id)).first()
    if created is None or (now or datetime.now(UTC)) - created > LIFETIMES[purpose]:
        return None
    return target.row_id
