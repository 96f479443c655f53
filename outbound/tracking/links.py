"""Turn a rendered plain-text body into what is sent when a campaign tracks opens or clicks.

With click tracking every http(s) URL in the body (except the unsubscribe link)
is replaced by a signed redirect; the original is stored per (message, link
position), and the redirect only ever goes there. With open tracking the
message gets an HTML alternative carrying a 1×1 pixel; the HTML is the same
text, escaped, with its links clickable. Without tracking the message stays
plain text only, which is what 1:1 outreach from a person's own mailbox looks
like.

URLs are found with a short regular expression rather than a linkify library:
outreach bodies are plain text written by the user, so only explicit
``http://`` / ``https://`` URLs count, minus trailing punctuation.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class TrackedBody:
    """The body as sent, and the original URLs by link position (1-based)."""

    text: str
    links: dict[int, str]


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each URL, trailing punctuation left out."""
    found = []
    for hit in _URL.finditer(text):
        url = hit.group(0).rstrip(_TRAILING)
        if len(url) > len("https://"):
            found.append((hit.start(), hit.start() + len(url), url))
    return found


def rewrite_links(text: str, redirect_for: Callable[[int], str], keep: str) -> TrackedBody:
    """Replace each URL but ``keep`` by ``redirect_for(position)``; positions count from 1."""
    parts: list[str] = []
    links: dict[int, str] = {}
    last = 0
    for start, end, url in find_urls(text):
        if url == keep:
            continue
        position = len(links) + 1
        links[position] = url
        parts += [text[last:start], redirect_for(position)]
        last = end
    parts.append(text[last:])
    return TrackedBody("".join(parts), links)


def html_alternative(text: str, pixel_url: str | None) -> str:
    """The plain text as minimal HTML: escaped, line breaks kept, URLs as links, the pixel."""
    pieces: list[str] = []
    last = 0
    for start, end, url in find_urls(text):
        pieces.append(html.escape(text[last:start]))
        shown = html.escape(url)
        pieces.append(f'<a href="{shown}">{shown}</a>')
        last = end
    pieces.append(html.escape(text[last:]))
    body = "".join(pieces).replace("\r\n", "\n").replace("\n", "<br>\n")
    if pixel_url is not None:
        body += f'\n<img src="{html.escape(pixel_url)}" width="1" height="1" alt="">'
    return f"<!DOCTYPE html>\n<html><body>\n{body}\n</body></html>\n"
