"""Raw RFC 822 bytes → ``InboundMessage``: a reply, an auto-reply, a bounce, a delay, or other.

Product rule 9: a reply stops the prospect's sequence, an out-of-office must
not, and a delivery-status notification marks our message Bounced. Getting
this wrong either way is costly: an auto-reply taken for a reply silently
ends a live sequence; a reply taken for an auto-reply keeps mailing someone
who answered. So the rules are ordered from the most to the least reliable
evidence, and each decision records in ``why`` what made it:

1. our own message (its Message-ID is one we write) → OTHER;
2. an RFC 3464 delivery-status report → BOUNCE (any recipient failed),
   DELAYED (only delays) or OTHER (success report);
3. a message from the mail system in another format (qmail, Exim, Yahoo, …)
   → BOUNCE or DELAYED (see ``classify_dsn``);
4. a read receipt (RFC 8098 disposition notification) → OTHER;
5. RFC 3834 ``Auto-Submitted`` other than ``no``, the de-facto autoresponder
   headers (``X-Autoreply``, ``X-Autorespond``, …), Exchange's
   ``X-MS-Exchange-Inbox-Rules-Loop``, ``Precedence: auto_reply`` → AUTO_REPLY;
6. a mailing-list message or newsletter (``List-Id`` / ``List-Unsubscribe`` /
   ``Precedence: list``) that is not part of a thread → OTHER;
7. ``Precedence: bulk`` or ``junk`` otherwise → AUTO_REPLY (vacation programs
   mark their answers so and nothing else);
8. an out-of-office subject ("Automatic reply:", "Abwesenheitsnotiz:", …):
   the subject only, never the body, so a person who writes "I was out of
   office" is still a reply → AUTO_REPLY;
9. no usable From address → OTHER; anything else from a person → REPLY.

``X-Auto-Response-Suppress`` is deliberately ignored: Outlook sets it on
ordinary messages too (it asks others not to auto-answer; it says nothing
about the message itself).
"""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime
from email.errors import MissingHeaderBodySeparatorDefect
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.inbound.classify_dsn import (
    delivery_status,
    looks_like_bounce,
    nonstandard_bounce,
    returned_message_ids,
)
from outbound.inbound.classify_text import body_text, snippet


class MalformedMessage(ValueError):
    """The bytes are not an RFC 822 message; the text says why, briefly (the webhook
    answers 400 with it, inbox sync logs it and moves on)."""


# Our own Message-IDs (outbound.mail.compose.make_message_id).
_OWN_MESSAGE_ID = re.compile(r"^<outbound\.\d+\.\d+\.[0-9a-f]{16}@", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ORIGINAL_ID_LINE = re.compile(r"^Original-Message-ID:[ \t]*(<[^<>\s]+>)", re.M | re.I)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_IDENTIFYING_FIELDS = ("From", "Sender", "Date", "Message-ID")
_RECIPIENT_FIELDS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")

# Headers that autoresponders set (besides RFC 3834's Auto-Submitted).
_AUTORESPONDER_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponse",
    "X-AutoReply-From",
    "X-Mail-Autoreply",
    "X-MS-Exchange-Inbox-Rules-Loop",  # Exchange: sent by an inbox rule (OOO, auto-forward)
)
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")

# Out-of-office subjects, anchored at the start (an "[EXTERNAL]"-style tag may precede them),
# so a reply titled "Re: Automatic reply: …" (a person answering one) is not matched.
_VACATION_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:"
    r"auto(?:matic|matische)?[ -]?(?:reply|response|antwort|respond)"
    r"|out of (?:the )?office\s*(?::|$|-|–|\(|auto[- ]?reply|reply|until|notice|notification)"
    r"|(?:i am|i'm|i’m) (?:currently )?"
    r"(?:out of (?:the )?office|away from|on (?:vacation|holiday|leave))"
    r"|abwesenheitsnotiz|abwesenheit\s*:|abwesend\s*:"
    r"|r[ée]ponse automatique|absence du bureau"
    r"|respuesta autom[áa]tica|fuera de la oficina"
    r"|risposta automatica|fuori ufficio"
    r"|automatisch antwoord|afwezigheidsbericht"
    r"|resposta autom[áa]tica|ausente do escrit[óo]rio"
    r"|vacation reply|on vacation\s*:|away from (?:the )?office"
    r")",
    re.IGNORECASE,
)
_PERSON_OUT_OF_OFFICE = re.compile(r"\bis out of (?:the )?office\b", re.IGNORECASE)  # Lotus Notes


def classify(raw: bytes) -> InboundMessage:
    """What an inbound message is; raises ``MalformedMessage`` for bytes that are not one."""
    message = _parse(raw)
    message_id = _first_id(_header(message, "Message-ID"))
    sender = _sender(message)
    subject = " ".join(_header(message, "Subject").split())
    base = InboundMessage(
        kind=InboundKind.OTHER,
        why="",
        message_id=message_id,
        sender=sender,
        recipients=_recipients(message),
        subject=subject,
        sent_at=_sent_at(_header(message, "Date")),
        in_reply_to=_ids(_header(message, "In-Reply-To")),
        references=_ids(_header(message, "References")),
        snippet=_snippet(message),
    )
    return base.model_copy(update=_decide(raw, message, base))


def _decide(raw: bytes, message: Message, base: InboundMessage) -> dict[str, object]:
    """The kind, the reason, and for a notification its recipients and returned IDs."""
    if base.message_id and _OWN_MESSAGE_ID.match(base.message_id):
        return _kind(InboundKind.OTHER, "our own message (its Message-ID is one we wrote)")
    report = delivery_status(message, base.message_id)
    if report is None and looks_like_bounce(message, base.sender, base.subject):
        ours = {*base.recipients, *(a for a in [base.sender] if a)}
        report = nonstandard_bounce(raw, message, base.sender, base.subject, ours, base.message_id)
    if report is not None:
        return {
            "kind": report.kind,
            "why": report.why,
            "bounces": report.bounces,
            "original_message_ids": report.original_message_ids,
        }
    if _is_read_receipt(message):
        found = _kind(InboundKind.OTHER, "read receipt (disposition notification)")
        ids = _receipt_original_ids(message) or returned_message_ids(message, base.message_id)
        return {**found, "original_message_ids": ids}
    auto = _auto_reply_header(message)
    if auto is not None:
        return _kind(InboundKind.AUTO_REPLY, auto)
    precedence = _header(message, "Precedence").strip().lower()
    threaded = bool(base.in_reply_to or base.references)
    list_header = next((h for h in _LIST_HEADERS if h in message), None)
    if not threaded and (list_header or precedence == "list"):
        return _kind(
            InboundKind.OTHER, f"mailing list or newsletter ({list_header or 'Precedence: list'})"
        )
    if precedence in ("bulk", "junk"):
        return _kind(InboundKind.AUTO_REPLY, f"Precedence: {precedence}")
    if _VACATION_SUBJECT.match(base.subject) or _PERSON_OUT_OF_OFFICE.search(base.subject):
        return _kind(InboundKind.AUTO_REPLY, "out-of-office subject")
    if not base.sender:
        return _kind(InboundKind.OTHER, "no sender address")
    if threaded:
        return _kind(InboundKind.REPLY, "a person's message in the thread (In-Reply-To/References)")
    return _kind(InboundKind.REPLY, "a person's message (no thread headers)")


def _kind(kind: InboundKind, why: str) -> dict[str, object]:
    return {"kind": kind, "why": why}


def _auto_reply_header(message: Message) -> str | None:
    """The header that marks the message as automatic, as ``Name: value``, or None."""
    submitted = _header(message, "Auto-Submitted").strip()
    if submitted and submitted.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {submitted.split(';')[0].strip()}"
    for name in _AUTORESPONDER_HEADERS:
        if name in message:
            value = _header(message, name).strip()
            return f"{name}: {value}" if value else name
    if _header(message, "Precedence").strip().lower() in ("auto_reply", "auto-reply"):
        return f"Precedence: {_header(message, 'Precedence').strip()}"
    if "autoresponder" in _header(message, "X-POST-MessageClass").lower():
        return "X-POST-MessageClass: Autoresponder"
    return None


def _is_read_receipt(message: Message) -> bool:
    """An RFC 8098 disposition notification ("Read: …"): automatic, and not an answer."""
    report_type = str(message.get_param("report-type", "") or "").lower()
    if (
        message.get_content_type() == "multipart/report"
        and report_type == "disposition-notification"
    ):
        return True
    return any(
        part.get_content_type() == "message/disposition-notification"
        for part in (message.get_payload() if message.is_multipart() else [])
        if isinstance(part, Message)
    )


def _receipt_original_ids(message: Message) -> list[str]:
    """The Original-Message-ID field of a read receipt's disposition-notification part."""
    found: list[str] = []
    for part in message.walk():
        if part.get_content_type() != "message/disposition-notification":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else [payload]
        for block in blocks:
            text = str(block) if isinstance(block, Message | str) else ""
            found += _ORIGINAL_ID_LINE.findall(text)
    return list(dict.fromkeys(found))


# -- parsing --------------------------------------------------------------------------------


def _parse(raw: bytes) -> Message:
    """The parsed message, after the checks that make ``MalformedMessage``.

    Real mail always has a header section of ``Name: value`` fields, ended by a
    blank line (MTAs insert it when a client forgets), and at least one of From,
    Sender, Date or Message-ID; a webhook body without them is a JSON document,
    a file, or a truncated upload, and answering 400 says so at once.
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise MalformedMessage("UTF-16 text; a message is bytes in 7-bit or 8-bit form")
    data = raw.lstrip(b"\r\n")
    if not data.strip():
        raise MalformedMessage("empty message")
    head = _HEADER_END.split(data, maxsplit=1)[0]
    if _CONTROL_BYTES.search(head):
        raise MalformedMessage("binary data in the header section")
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    if not message.keys():
        raise MalformedMessage("no header fields (a message starts with fields like From:)")
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        raise MalformedMessage("a line in the header section is not a header field")
    if not any(name in message for name in _IDENTIFYING_FIELDS):
        raise MalformedMessage("no From, Sender, Date or Message-ID header field")
    return message


def _header(message: Message, name: str) -> str:
    """A header's decoded value ('' when absent). The header registry has raised on
    hostile input in some Python releases; then the raw value is decoded by hand."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:
        for key, raw_value in message.raw_items():
            if key.lower() == name.lower():
                try:
                    return str(make_header(decode_header(str(raw_value))))
                except Exception:
                    return str(raw_value)
        return ""


def _ids(value: str) -> list[str]:
    """Message-IDs with their angle brackets; a bare ``id@host`` is bracketed."""
    found = _MESSAGE_ID.findall(value)
    if not found:
        found = [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]
    return list(dict.fromkeys(found))


def _first_id(value: str) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _addresses(values: list[str]) -> list[str]:
    found = [address.strip().lower() for _, address in getaddresses(values)]
    return [a for a in found if "@" in a and not a.startswith("@") and not a.endswith("@")]


def _sender(message: Message) -> str | None:
    """The From address (else Sender), lower-cased; None when there is none usable."""
    for name in ("From", "Sender"):
        found = _addresses([_header(message, name)])
        if found:
            return found[0]
    return None


def _recipients(message: Message) -> list[str]:
    """To, Delivered-To, X-Original-To, Envelope-To: where a VERP token shows."""
    values: list[str] = []
    for name in _RECIPIENT_FIELDS:
        try:
            values += [str(v) for v in message.get_all(name, [])]
        except Exception:
            values.append(_header(message, name))
    return list(dict.fromkeys(_addresses(values)))


def _sent_at(value: str) -> datetime | None:
    """The Date in UTC; a date without zone (``-0000``) is taken as UTC."""
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _snippet(message: Message) -> str:
    try:
        return snippet(body_text(message))
    except Exception:  # a snippet is a nicety; never lose the classification over it
        return ""
