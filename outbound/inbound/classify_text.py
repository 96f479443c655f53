"""The text a person wrote in a message, without what it quotes: the reply's snippet.

A reply carries the new text on top and our message below it, introduced by
an attribution ("On … wrote:", "Am … schrieb …:"), an Outlook header block
("From: … Sent: …"), a separator ("-----Original Message-----") or ``>``
quoting. The snippet is what the user sees in the prospect's history, so it
must be the prospect's words, not ours echoed back. Only the stdlib is used:
the rules are a handful of regular expressions, and the reply parsers on PyPI
know English attributions only and are unmaintained.
"""

from __future__ import annotations

import re
from email.message import Message
from html.parser import HTMLParser

SNIPPET_LENGTH = 200
# The new text is at the top: reading further only costs time on a 25 MB message.
MAX_TEXT = 200_000

# An attribution line starts with a word from this list and ends with its verb; mail clients
# wrap long ones (Gmail puts "wrote:" on its own line), so up to three lines are joined.
_ATTRIBUTIONS = [
    re.compile(r"^On\b.{4,300}\bwrote:$", re.IGNORECASE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Am\b.{4,300}\bschrieb\b.{0,200}:$", re.IGNORECASE),  # German
    re.compile(r"^Le\b.{4,300}\ba écrit ?:$", re.IGNORECASE),  # French
    re.compile(r"^El\b.{4,300}\bescribió ?:$", re.IGNORECASE),  # Spanish
    re.compile(r"^Il\b.{4,300}\bha scritto ?:$", re.IGNORECASE),  # Italian
    re.compile(r"^Op\b.{4,300}\bschreef\b.{0,200}:$", re.IGNORECASE),  # Dutch
    re.compile(r"^Em\b.{4,300}\bescreveu ?:$", re.IGNORECASE),  # Portuguese
]
_ATTRIBUTION_START = re.compile(r"^(On|Am|Le|El|Il|Op|Em)\b", re.IGNORECASE)

# Separators that begin a quoted or forwarded message, whatever follows them.
_SEPARATOR = re.compile(
    r"^-{2,}\s*(original message|forwarded message|ursprüngliche nachricht"
    r"|weitergeleitete nachricht|message d'origine|message transféré|mensaje original"
    r"|mensaje reenviado|messaggio originale|oorspronkelijk bericht)\s*-*$"
    r"|^(begin forwarded message|anfang der weitergeleiteten nachricht)\s*:$",
    re.IGNORECASE,
)
# Outlook's block: "From: …" with "Sent: …" (or "Date: …") a few lines below; localised.
_OUTLOOK_FROM = re.compile(r"^\*?(from|von|de|da|van|od)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"^\*?(sent|date|gesendet|datum|envoyé|date d'envoi|enviado|fecha|inviato|data|verzonden)"
    r"\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")  # RFC 3676 "-- " signature delimiter
_RULE = re.compile(r"^[_\-=*]{5,}$")  # a horizontal rule left over before a cut


# Outlook labels windows-1252 text (curly quotes, dashes in 0x80-0x9F) as iso-8859-1 or
# us-ascii; like browsers (WHATWG Encoding), read those labels as windows-1252.
_WINDOWS_1252_LABELS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp1252"}
)


def part_text(part: Message) -> str:
    """A text part decoded to ``str``; an unknown or lying charset degrades to UTF-8 with
    replacement characters rather than failing the whole message."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        return inner if isinstance(inner, str) else ""
    charset = part.get_content_charset() or "utf-8"
    if charset.replace("_", "-") in _WINDOWS_1252_LABELS:
        charset = "windows-1252"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def body_text(message: Message) -> str:
    """The message's main text: text/plain preferred, else text/html turned into text.

    Walks the MIME tree like ``EmailMessage.get_body`` (alternatives, mixed and
    related containers; not attachments, not attached messages), but works on
    any ``Message`` and never raises on a broken structure.
    """
    plain, html = _first_text_parts(message)
    if plain is not None:
        return part_text(plain)[:MAX_TEXT]
    if html is not None:
        return html_to_text(part_text(html)[:MAX_TEXT])
    return ""


def _first_text_parts(message: Message) -> tuple[Message | None, Message | None]:
    plain: Message | None = None
    html: Message | None = None
    stack = [message]
    while stack and plain is None:
        part = stack.pop(0)
        if part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if isinstance(children, list):
                stack = [c for c in children if isinstance(c, Message)] + stack
        elif content_type == "text/plain":
            plain = part
        elif content_type == "text/html" and html is None:
            html = part
    return plain, html


class _TextExtractor(HTMLParser):
    """Visible text of an HTML body, one line per block; ``<blockquote>`` content (what
    Gmail, Apple Mail and Thunderbird quote with) is dropped, as ``>`` lines would be."""

    _SKIP = frozenset({"head", "style", "script", "title", "template"})
    _BLOCK = frozenset(
        {
            "address", "article", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3",
            "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table",
            "td", "th", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "blockquote":
            self._quote += 1
            self.chunks.append("\n")
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "blockquote":
            self._quote = max(0, self._quote - 1)
            self.chunks.append("\n")
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._quote:
            self.chunks.append(data.replace("\r", " ").replace("\n", " "))


def html_to_text(html: str) -> str:
    """Visible text of an HTML body, with line breaks where blocks end."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # html.parser is lenient, but not on everything
        pass
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).split("\n"))
    return "\n".join(lines)


def new_text(text: str) -> str:
    """The lines a person wrote: up to the first attribution, separator, Outlook header
    block or signature, without ``>``-quoted lines. An attribution before any new text
    starts an inline answer (replies between the quotes), so it is skipped, not cut at."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _is_attribution(lines, index) and not any(kept):
            continue  # answers written between the quoted lines, below the attribution
        if _starts_quote(lines, index):
            break
        if line.startswith(">"):
            continue
        kept.append(line)
    while kept and (not kept[-1] or _RULE.match(kept[-1])):
        kept.pop()
    return "\n".join(kept)


def _starts_quote(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _SEPARATOR.match(line) or _SIGNATURE.match(line):
        return True
    if _is_attribution(lines, index):
        return True
    if _OUTLOOK_FROM.match(line):
        return any(_OUTLOOK_SENT.match(later) for later in lines[index + 1 : index + 5])
    return False


def _is_attribution(lines: list[str], index: int) -> bool:
    """The "On … wrote:" line and its translations, possibly wrapped over three lines."""
    if not _ATTRIBUTION_START.match(lines[index]):
        return False
    for size in (1, 2, 3):
        joined = " ".join(lines[index : index + size])
        if any(pattern.match(joined) for pattern in _ATTRIBUTIONS):
            return True
    return False


def snippet(text: str, length: int = SNIPPET_LENGTH) -> str:
    """The start of the new text, whitespace collapsed, at most ``length`` characters
    (cut at a word boundary, with an ellipsis, when longer)."""
    collapsed = " ".join(new_text(text).split())
    if len(collapsed) <= length:
        return collapsed
    cut = collapsed[: length - 1]
    if " " in cut[length // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"
