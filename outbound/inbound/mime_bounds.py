"""Raw bytes → a parsed message, within bounds, or the reason they are not a message.

Inbound mail is written by strangers, so every dimension the parser would
otherwise follow is bounded before the parser sees it:

* only the first ``MAX_READ_BYTES`` are read (a notice, a reply's new text and
  the headers of a returned message all come first; a 25 MB attachment does
  not change what a message is);
* the header section is kept to ``MAX_HEADER_BYTES`` and each field to
  ``MAX_FIELD_BYTES`` (a header with 50,000 addresses is read as its first few
  hundred), NUL and other control bytes in it become spaces, line ends are
  normalised (bare CR, as old Mac mailers write, included);
* MIME nesting deeper than ``MAX_DEPTH`` or more than ``MAX_PARTS`` parts is
  refused with ``MessageTooComplex`` (a 400 on the webhook, an "unreadable"
  event in inbox sync): the stdlib parser recurses once per level, and no
  mail a person or a mail system writes comes near these numbers.

The stdlib parser runs with the compat32 policy: it is ten times faster than
the header-registry policy on large messages, never raises on odd headers, and
is what flufl.bounce's detectors are written against.
"""

from __future__ import annotations

import email
import re
from email.errors import (
    MissingHeaderBodySeparatorDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import Message

MAX_READ_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_FIELD_BYTES = 8 * 1024
MAX_DEPTH = 32
MAX_PARTS = 500
MAX_ATTACHED_MESSAGES = 64

_UNSPLIT = (StartBoundaryNotFoundDefect, NoBoundaryInMultipartDefect)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same bytes, each made a space by ``bytes.translate``: a header of a million NULs is
# read in a millisecond, where ``_CONTROL.sub`` took a tenth of a second.
_CONTROL_TO_SPACE = bytes(
    0x20 if b in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F) else b
    for b in range(256)
)
_LINE_END = re.compile(rb"\r\n?")
_FIELD_NAME = re.compile(rb"^[!-9;-~]+[ \t]*:")
_BOUNDARY = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""", re.I)
_DELIMITER = re.compile(rb"^--([^\n]{1,202}?)[ \t]*$", re.M)
_ATTACHED_MESSAGE = re.compile(rb"^content-type:[ \t]*message/(?:rfc822|global)\b", re.I | re.M)
_IDENTIFYING_FIELDS = ("From", "Sender", "Date", "Message-ID")
# Fields kept even past the header-size bound, for they decide what the message is.
_KEY_FIELDS = frozenset(
    {
        b"from", b"sender", b"to", b"subject", b"date", b"message-id", b"in-reply-to",
        b"references", b"content-type", b"content-transfer-encoding", b"mime-version",
        b"auto-submitted", b"precedence", b"return-path", b"x-failed-recipients",
    }
)  # fmt: skip


class MalformedMessage(ValueError):
    """The bytes are not an RFC 822 message; the text says why, briefly (the webhook
    answers 400 with it, inbox sync records an "unreadable" event and moves on)."""


class MessageTooComplex(MalformedMessage):
    """The message's MIME structure is past a limit (nesting depth, number of parts);
    the text names the limit."""


def bounded_message(raw: bytes) -> Message:
    """The parsed message, after the checks that make ``MalformedMessage``.

    Real mail always has a header section of ``Name: value`` fields, ended by a
    blank line (MTAs insert it when a client forgets), and at least one of From,
    Sender, Date or Message-ID; a webhook body without them is a JSON document,
    a file, or a truncated upload, and answering 400 says so at once.
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise MalformedMessage("UTF-16 text; a message is bytes in 7-bit or 8-bit form")
    data = _LINE_END.sub(b"\n", raw[:MAX_READ_BYTES]).lstrip(b"\n")
    if not data.strip():
        raise MalformedMessage("empty message")
    if data.startswith(b"From ") and b"\n" in data:  # an mbox separator line
        data = data.split(b"\n", 1)[1]
    head, separator, body = data.partition(b"\n\n")
    if not _FIELD_NAME.match(head.split(b"\n", 1)[0]):
        if _CONTROL.search(head[:1024]):
            raise MalformedMessage("binary data where the header section should be")
        raise MalformedMessage(
            "the first line is not a header field (a message starts with fields like From:)"
        )
    head = _bounded_header(head.translate(_CONTROL_TO_SPACE))
    _check_structure(head + b"\n" + body)
    body = _unindented_delimiters(head, body)
    message = email.message_from_bytes(head + b"\n\n" + body if separator else head + b"\n")
    if any(isinstance(d, _UNSPLIT) for d in message.defects):
        repaired = _repaired_boundary(head, body)
        if repaired is not None:
            message = email.message_from_bytes(repaired)
    if not message.keys():
        raise MalformedMessage("no header fields (a message starts with fields like From:)")
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        raise MalformedMessage("a line in the header section is not a header field")
    if not any(name in message for name in _IDENTIFYING_FIELDS):
        raise MalformedMessage("no From, Sender, Date or Message-ID header field")
    return message


def _unindented_delimiters(head: bytes, body: bytes) -> bytes:
    """Delimiter lines of the top-level boundary that a mailer indented, moved back to the
    start of the line (the parser would not see them)."""
    declared = _BOUNDARY.search(head)
    if declared is None:
        return body
    name = declared.group(1) or declared.group(2)
    indented = re.compile(rb"^[ \t]+(--" + re.escape(name) + rb"(?:--)?)[ \t]*$", re.M)
    return indented.sub(rb"\1", body)


def _repaired_boundary(head: bytes, body: bytes) -> bytes | None:
    """A multipart the parser could not split: its Content-Type is rewritten with the
    delimiter the body does use (the declared boundary when the body uses it, else a line
    of the form ``--token`` that opens the body and recurs). A gateway that rewrote one and
    not the other, or a boundary parameter run into the next field, are so repaired.
    None when the body uses no delimiter."""
    field = re.search(rb"^content-type:[^\n]*(?:\n[ \t][^\n]*)*", head, re.I | re.M)
    if field is None:
        return None
    declared = _BOUNDARY.search(field.group(0))
    name = (declared.group(1) or declared.group(2)) if declared else None
    tokens = re.findall(rb"^--([^\s]{6,200})[ \t]*$", body, re.M)
    if name is None or name not in tokens:
        name = next((t for t in tokens if tokens.count(t) >= 2 or t + b"--" in tokens), None)
    if name is None:
        return None
    kind = re.match(rb"content-type:\s*([\w.+-]+/[\w.+-]+)", field.group(0), re.I)
    report = re.search(rb"report-type\s*=\s*\"?([\w-]+)", field.group(0), re.I)
    fixed = b"Content-Type: " + (kind.group(1) if kind else b"multipart/mixed")
    fixed += b"; report-type=" + report.group(1) if report else b""
    fixed += b'; boundary="' + name + b'"'
    return head[: field.start()] + fixed + head[field.end() :] + b"\n\n" + body


def _bounded_header(head: bytes) -> bytes:
    """Each field cut to ``MAX_FIELD_BYTES``; past ``MAX_HEADER_BYTES`` only the fields that
    decide what the message is are kept."""
    fields: list[bytes] = []
    for field in re.split(rb"\n(?![ \t])", head):
        fields.append(field[:MAX_FIELD_BYTES])
    kept: list[bytes] = []
    size = 0
    for field in fields:
        size += len(field) + 1
        name = field.split(b":", 1)[0].strip().lower()
        if size <= MAX_HEADER_BYTES or (name in _KEY_FIELDS and len(kept) < 2000):
            kept.append(field)
    return b"\n".join(kept)


def _check_structure(data: bytes) -> None:
    """Refuse nesting past ``MAX_DEPTH`` and more than ``MAX_PARTS`` parts, counted from the
    boundaries the message declares and the delimiter lines that use them (a scan of the
    bytes, before any recursion)."""
    if len(_ATTACHED_MESSAGE.findall(data)) > MAX_ATTACHED_MESSAGES:
        raise MessageTooComplex(f"more than {MAX_ATTACHED_MESSAGES} attached messages (the limit)")
    declared = {(a or b) for a, b in _BOUNDARY.findall(data)}
    if not declared:
        return
    stack: list[bytes] = []
    parts = 0
    for found in _DELIMITER.finditer(data):
        line = found.group(1)
        closing = line.endswith(b"--") and line[:-2] in declared
        name = line[:-2] if closing else line
        if name not in declared:
            continue
        if name in stack:
            del stack[stack.index(name) + (0 if closing else 1) :]
        elif not closing:
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                raise MessageTooComplex(f"MIME nesting deeper than {MAX_DEPTH} levels (the limit)")
        if not closing:
            parts += 1
            if parts > MAX_PARTS:
                raise MessageTooComplex(f"more than {MAX_PARTS} MIME parts (the limit)")
