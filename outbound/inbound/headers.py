"""Header fields of a parsed (compat32) message, decoded and bounded, never raising.

RFC 2047 encoded words are decoded; raw 8-bit values (which many mailers
still write) are read as UTF-8, else Latin-1; anything undecodable degrades to
replacement characters rather than failing the message.
"""

from __future__ import annotations

import contextlib
import re
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses

MAX_ADDRESSES = 100
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_RAW_BYTES = re.compile("[\udc80-\udcff]")


def header(message: Message, name: str) -> str:
    """A header's decoded value, whitespace collapsed ('' when absent)."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    return decode(value) if value is not None else ""


def all_headers(message: Message, name: str) -> list[str]:
    try:
        values = message.get_all(name, [])
    except Exception:
        return []
    return [decode(v) for v in values]


def decode(value: object) -> str:
    """An RFC 2047 or raw 8-bit header value as text."""
    if isinstance(value, Header):  # compat32 hands raw 8-bit values over so
        try:
            return " ".join(_chunks(decode_header(value)).split())
        except Exception:
            value = str(value)
    text = str(value)
    if _RAW_BYTES.search(text):  # raw 8-bit bytes, as the parser keeps them (surrogateescape)
        raw = text.encode("ascii", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "=?" in text:
        with contextlib.suppress(Exception):  # a broken encoded word: kept as written
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def _chunks(parts: list[tuple[bytes | str, str | None]]) -> str:
    """Decoded header chunks joined; bytes in an unknown charset read as UTF-8, else
    Latin-1."""
    text: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            text.append(chunk)
            continue
        for candidate in (charset, "utf-8", "latin-1"):
            if not candidate or candidate == "unknown-8bit":
                continue
            try:
                text.append(chunk.decode(candidate))
                break
            except (LookupError, UnicodeDecodeError):
                continue
    return "".join(text)


def addresses(values: list[str], limit: int = MAX_ADDRESSES) -> list[str]:
    """The first ``limit`` addresses in the values, lower-cased, without junk."""
    found: list[str] = []
    for value in values:
        try:
            pairs = getaddresses([value])
        except Exception:  # noqa: S112 - an unparsable field names no address
            continue
        for _, address in pairs:
            address = address.strip().lower()
            if "@" in address and not address.startswith("@") and not address.endswith("@"):
                found.append(address)
            if len(found) >= limit:
                return found
    return found


def message_ids(value: str) -> list[str]:
    """Message-IDs with their angle brackets; a bare ``id@host`` is bracketed."""
    found = _MESSAGE_ID.findall(value)
    if not found:
        found = [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]
    return [i for i in dict.fromkeys(found) if _MESSAGE_ID.fullmatch(i)]
