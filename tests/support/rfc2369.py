"""A strict reader of the list headers as a receiver parses them off the wire.

RFC 2369 §2: the value is a comma-separated list of angle-bracketed URLs; RFC
8058 §3.1: ``List-Unsubscribe-Post`` is exactly ``List-Unsubscribe=One-Click``.
This reader takes the raw header section (folded lines, CRLF), accepts folding
whitespace only between the URLs, and refuses anything else: an RFC 2047
encoded word, a URL without a scheme, a broken bracket, a line over 998
characters. (It accepts no comments, which RFC 2369 allows but we never write.)
"""

from __future__ import annotations

import re

_URL = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^<>\s]+)>")
_SEPARATOR = re.compile(r"\s*,\s*")


class NotRfc2369(ValueError):
    """The header is not what RFC 2369 / RFC 8058 allow."""


def raw_field(raw_message: bytes, name: str) -> str:
    """The one field ``name`` of the message's header section, still folded, as sent."""
    head = raw_message.split(b"\r\n\r\n", 1)[0]
    if not head.isascii():
        raise NotRfc2369("the header section is not ASCII")
    fields: list[str] = []
    for line in head.decode("ascii").split("\r\n"):
        if len(line) > 998:
            raise NotRfc2369(f"a header line of {len(line)} characters (at most 998)")
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += "\r\n" + line
        else:
            fields.append(line)
    found = [f for f in fields if f.split(":", 1)[0].strip().lower() == name.lower()]
    if len(found) != 1:
        raise NotRfc2369(f"{len(found)} {name} fields (one expected)")
    return found[0].split(":", 1)[1]


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: folding is CRLF before whitespace; unfolding removes the CRLF."""
    return re.sub(r"\r\n(?=[ \t])", "", value)


def list_urls(raw_message: bytes, name: str = "List-Unsubscribe") -> list[str]:
    """The URLs of a list header, in order, or NotRfc2369 saying what is wrong."""
    value = unfold(raw_field(raw_message, name)).strip()
    if "=?" in value:
        raise NotRfc2369(f"an RFC 2047 encoded word in {name}: {value[:60]!r}")
    urls = []
    for element in _SEPARATOR.split(value):
        matched = _URL.fullmatch(element)
        if matched is None:
            raise NotRfc2369(f"not an angle-bracketed URL: {element[:60]!r}")
        urls.append(matched[1])
    return urls


def one_click_post(raw_message: bytes) -> str:
    """The List-Unsubscribe-Post value, which RFC 8058 fixes to one string."""
    value = unfold(raw_field(raw_message, "List-Unsubscribe-Post")).strip()
    if value != "List-Unsubscribe=One-Click":
        raise NotRfc2369(f"List-Unsubscribe-Post is {value!r}")
    return value
