"""The words a mail system wrote in a notification, and the ones about one recipient.

A notification's text parts (never the returned message attached to it, nor
the copy pasted below a "copy of the message" line) are what a bounce says;
the paragraph that names a recipient, with the server's answer folded below
it, is what it says about that recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from outbound.inbound.classify_text import MAX_TEXT, html_to_text, part_text
from outbound.mail.reasons import BASIC, ENHANCED

DELIVERY_STATUS = frozenset({"message/delivery-status", "message/global-delivery-status"})
RETURNED_MESSAGE = frozenset({"message/rfc822", "message/global"})
RETURNED_HEADERS = frozenset({"text/rfc822-headers", "message/global-headers"})
# Where the copy of the returned message begins in a plain-text bounce.
_RETURNED_COPY = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:below this line is a copy of the message|this is a copy of the message"
    r"|original message follows|-+ ?original message ?-+|returned mail follows"
    r"|undelivered message|forwarded message|a copy of the original message"
    r"|the header of the original message|header of the source mail|unsent message below"
    r"|your message reads|old message:|returned message|below is a copy of the original)",
    re.IGNORECASE | re.MULTILINE,
)


# Lines that quote the returned message's headers, not the notice's words.
_QUOTED_HEADER = re.compile(
    r"^\s*>?\s*(?:to|subject|sent|date|cc|from|message-id|received|for <)\b\s*:?", re.I
)


_HEADER_LINE = re.compile(
    r"^\s*>?\s*(?:content-[\w-]+|mime-version|received|from|to|cc|subject|date|message-id"
    r"|return-path|reply-to|x-[\w-]+|dkim-signature|authentication-results|in-reply-to"
    r"|references|sender|delivered-to|list-[\w-]+|precedence)\s*:",
    re.IGNORECASE,
)


def notification_parts(message: Message) -> Iterator[Message]:
    """Every part of the notification itself: never inside the returned message (which may
    be anything, even a bounce) nor into the delivery-status blocks."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        yield part
        content_type = part.get_content_type()
        if content_type in RETURNED_MESSAGE or content_type in DELIVERY_STATUS:
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack = [c for c in children if isinstance(c, Message)] + stack


def notification_text(message: Message) -> str:
    """The text the mail system wrote: the bounce's own text parts, without the returned
    message (attached, or pasted below a "copy of the message" line)."""
    texts: list[str] = []
    html: list[Message] = []
    for part in notification_parts(message):
        if part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload()
        if part.is_multipart():
            continue
        if part.get_content_maintype() == "multipart" and isinstance(payload, str):
            texts.append(payload[:MAX_TEXT])  # a multipart the parser could not split
        elif part.get_content_type() == "text/html":
            html.append(part)
        elif part.get_content_maintype() == "text" and (
            part.get_content_type() not in RETURNED_HEADERS
        ):
            texts.append(part_text(part)[:MAX_TEXT])
    if not texts:  # an HTML-only notification (rare): its visible text
        texts = [html_to_text(part_text(part)[:MAX_TEXT]) for part in html]
    text = "\n".join(texts)[:MAX_TEXT]
    copy = _RETURNED_COPY.search(text)
    return text[: copy.start()] if copy and copy.start() > 0 else text


def words_about(address: str, text: str, others: list[str] | None = None) -> str:
    """The words about ``address``: the paragraph that names it, with the server's answer
    appended when the paragraph has no code; else the first answer with a code; else the
    whole text."""
    lines = text.splitlines()
    window = _window(address, lines, others or [])
    coded = code_line(lines)
    if window:
        said = " ".join(window)
        if not _has_code(window) and coded is not None:
            said += " " + coded
        return " ".join(said.split())[:1500]
    return coded if coded is not None else " ".join(text.split())[:1500]


def answer_about(address: str, text: str, others: list[str] | None = None) -> str | None:
    """The server's answer about ``address`` as the notice quotes it (for the message log):
    the line with a code in its paragraph, else the first such line, else None."""
    lines = text.splitlines()
    return code_line(_window(address, lines, others or [])) or code_line(lines)


def _window(address: str, lines: list[str], others: list[str]) -> list[str]:
    """The paragraph that names ``address``: up to a blank line after a code, or the line
    naming another recipient (or another recipient's domain)."""
    others = [o for o in others if o != address]
    own_domain = address.rpartition("@")[2]
    domains = [f" {d} " for d in {o.rpartition("@")[2] for o in others} - {own_domain}]
    window: list[str] = []
    for index, line in enumerate(lines):
        if address not in line.lower() or _QUOTED_HEADER.match(line):
            continue
        for later in lines[index : index + 10]:
            if _QUOTED_HEADER.match(later):
                continue
            if window and any(o in later.lower() for o in others + domains):
                break
            if not later.strip() and len(window) > 1 and _has_code(window):
                break
            window.append(later)
        if _has_code(window) or len(window) > 1:
            return window
        window = []
    return window


def plain_words(text: str) -> str:
    """The notice without the lines that quote the returned message's header fields."""
    return "\n".join(line for line in text.splitlines() if not _HEADER_LINE.match(line))


def _has_code(lines: list[str]) -> bool:
    return any(ENHANCED.search(w) or BASIC.search(w) for w in lines)


def code_line(lines: list[str]) -> str | None:
    """The first line with an enhanced status code, else with a basic reply code, with the
    lines indented below it (Postfix and others fold a long server answer so)."""
    for pattern in (ENHANCED, BASIC):
        for index, line in enumerate(lines):
            if pattern.search(line):
                indent = len(line) - len(line.lstrip())
                folded = [line]
                for later in lines[index + 1 : index + 4]:
                    if not later.strip() or len(later) - len(later.lstrip()) <= indent:
                        break
                    folded.append(later)
                return " ".join(" ".join(folded).split())[:500]
    return None
