"""Raw RFC 822 bytes → ``InboundMessage``: what an inbound message is, and why.

Product rule 9: a reply stops the prospect's sequence, an out-of-office must
not, a delivery-status notification marks our message Bounced, a complaint
opts the recipient out. Getting this wrong either way is costly: a notice
taken for a reply silently ends a live sequence and counts a reply nobody
wrote; a reply taken for a notice keeps mailing someone who answered. So the
rules go from the most to the least reliable evidence, and each decision
records in ``why`` what made it:

1. our own message (its Message-ID is one we write) → OTHER;
2. a complaint: an ARF report (RFC 5965) or a provider's feedback loop →
   COMPLAINT (an ARF report about authentication → UNRECOGNISED_NOTICE);
3. a provider's notification by mail (Amazon SES) → BOUNCE / COMPLAINT /
   DELIVERED;
4. an RFC 3464 delivery-status report → BOUNCE (any recipient failed),
   DELAYED (only delays) or DELIVERED (success only);
5. a read receipt (RFC 8098) → OTHER;
6. anything else a mail system wrote about a delivery (daemon sender, failure
   subject, report parts, ``X-Failed-Recipients``) → BOUNCE or DELAYED when
   its text says who failed, else UNRECOGNISED_NOTICE: a notice is never a
   reply, and one not understood is kept for a person;
7. Apple Mail's one-tap unsubscribe (``X-Apple-Unsubscribe``) → UNSUBSCRIBE;
8. an autoresponder's headers → AUTO_REPLY;
9. a challenge-response system or a no-reply sender → UNRECOGNISED_NOTICE;
10. a mailing-list message or newsletter not in a thread → OTHER;
    ``Precedence: bulk``/``junk`` or an out-of-office subject → AUTO_REPLY;
11. no usable From address → OTHER; anything else from a person → REPLY.

Bytes that are not a message raise ``MalformedMessage`` (the only exception
``classify`` raises); the limits on size, nesting and parts are in
``mime_bounds``.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from outbound.domain.inbound import InboundKind, InboundMessage
from outbound.inbound.auto_reply import auto_reply_header, vacation_subject
from outbound.inbound.classify_dsn import delivery_status, returned_message_ids
from outbound.inbound.classify_notice import nonstandard_bounce
from outbound.inbound.classify_report import feedback_report, provider_notification
from outbound.inbound.classify_text import body_text, new_text, snippet
from outbound.inbound.headers import addresses, all_headers, header, message_ids
from outbound.inbound.mime_bounds import (
    MAX_READ_BYTES,
    MalformedMessage,
    MessageTooComplex,
    bounded_message,
)
from outbound.inbound.notices import is_challenge, strong_signals, weak_signals

__all__ = ["MalformedMessage", "MessageTooComplex", "classify"]

log = logging.getLogger(__name__)

# Our own Message-IDs (outbound.mail.compose.make_message_id).
_OWN_MESSAGE_ID = re.compile(r"^<outbound\.\d+\.\d+\.[0-9a-f]{16}@", re.IGNORECASE)
_ORIGINAL_ID_LINE = re.compile(r"^Original-Message-ID:[ \t]*(<[^<>\s]+>)", re.M | re.I)
_RECIPIENT_FIELDS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")
AUTO_REPLY_TEXT = 4096  # characters of an auto-reply's text kept (its return date is early)


def classify(raw: bytes) -> InboundMessage:
    """What an inbound message is; raises ``MalformedMessage`` for bytes that are not one."""
    message = bounded_message(raw)
    subject = header(message, "Subject")[:1000]
    base = InboundMessage(
        kind=InboundKind.OTHER,
        why="",
        message_id=_first_id(header(message, "Message-ID")),
        sender=_sender(message),
        recipients=_recipients(message),
        subject=subject,
        sent_at=_sent_at(header(message, "Date")),
        in_reply_to=message_ids(header(message, "In-Reply-To"))[:20],
        references=message_ids(header(message, "References"))[-50:],
        snippet=_snippet(message),
    )
    try:
        decided = _decide(message, min(len(raw), MAX_READ_BYTES), base)
    except RecursionError:  # pragma: no cover - bounded by mime_bounds; kept as a backstop
        raise MessageTooComplex("MIME structure too deep to read") from None
    except Exception as error:  # a bug must not turn a stranger's mail into a 500
        log.exception("inbound classifier failed on a message")
        decided = _kind(
            InboundKind.UNRECOGNISED_NOTICE, f"internal error while reading it ({error!r})"[:200]
        )
    if decided["kind"] is InboundKind.AUTO_REPLY:
        decided["text"] = _auto_reply_text(message)
    return base.model_copy(update=decided)


def _decide(message: Message, size: int, base: InboundMessage) -> dict[str, object]:
    """The kind, the reason, and for a notification its recipients and returned IDs."""
    if base.message_id and _OWN_MESSAGE_ID.match(base.message_id):
        return _kind(InboundKind.OTHER, "our own message (its Message-ID is one we wrote)")
    report = feedback_report(message, base.message_id) or provider_notification(
        message, base.sender
    )
    if report is not None:
        return {
            "kind": report.kind,
            "why": report.why,
            "complaint": report.complaint,
            "bounces": report.bounces,
            "original_message_ids": report.original_message_ids,
        }
    if is_challenge(message):
        why = "a challenge-response system asks the sender to confirm; not a person's answer"
        return _kind(InboundKind.UNRECOGNISED_NOTICE, why)
    status = delivery_status(message, base.message_id)
    if status is not None:
        return _report(status.kind, status.why, status.bounces, status.original_message_ids)
    if _is_read_receipt(message):
        receipt = _kind(InboundKind.OTHER, "read receipt (disposition notification)")
        ids = _receipt_original_ids(message) or returned_message_ids(message, base.message_id)
        return {**receipt, "original_message_ids": ids}
    strong = strong_signals(message, base.sender, base.subject)
    if strong:
        read = _attached_report(message, base.message_id) or _free_text(message, size, base)
        if read is not None:
            return read
        why = f"from a mail system ({', '.join(strong)}) but not understood; kept for a person"
        ids = returned_message_ids(message, base.message_id)
        return {**_kind(InboundKind.UNRECOGNISED_NOTICE, why), "original_message_ids": ids}
    if header(message, "X-Apple-Unsubscribe").strip().lower() == "true":
        return _kind(InboundKind.UNSUBSCRIBE, "Apple Mail's unsubscribe (X-Apple-Unsubscribe)")
    auto = auto_reply_header(message)
    if auto is not None:
        return _kind(InboundKind.AUTO_REPLY, auto)
    weak = weak_signals(message, base.sender)
    if weak:
        read = _free_text(message, size, base)
        if read is not None:
            return read
        why = f"from a machine ({', '.join(weak)}), not a person; kept for a person to look at"
        return _kind(InboundKind.UNRECOGNISED_NOTICE, why)
    return _from_a_person(message, base)


def _free_text(message: Message, size: int, base: InboundMessage) -> dict[str, object] | None:
    """A bounce or delay written as free text, from a machine (else None)."""
    ours = {*base.recipients, *(a for a in [base.sender] if a)}
    notice = nonstandard_bounce(
        message, size, base.sender, base.subject, ours, base.message_id, machine=True
    )
    if notice is None:
        return None
    return _report(notice.kind, notice.why, notice.bounces, notice.original_message_ids)


def _from_a_person(message: Message, base: InboundMessage) -> dict[str, object]:
    precedence = header(message, "Precedence").strip().lower()
    threaded = bool(base.in_reply_to or base.references)
    list_header = next((h for h in _LIST_HEADERS if h in message), None)
    if not threaded and (list_header or precedence == "list"):
        return _kind(
            InboundKind.OTHER, f"mailing list or newsletter ({list_header or 'Precedence: list'})"
        )
    if precedence in ("bulk", "junk"):
        return _kind(InboundKind.AUTO_REPLY, f"Precedence: {precedence}")
    if vacation_subject(base.subject):
        return _kind(InboundKind.AUTO_REPLY, "out-of-office subject")
    if not base.sender:
        return _kind(InboundKind.OTHER, "no sender address")
    if threaded:
        return _kind(InboundKind.REPLY, "a person's message in the thread (In-Reply-To/References)")
    return _kind(InboundKind.REPLY, "a person's message (no thread headers)")


def _attached_report(message: Message, own_id: str | None) -> dict[str, object] | None:
    """A mail system that forwards the report it received as an attached message."""
    for part in message.walk():
        if part.get_content_type() not in ("message/rfc822", "message/global"):
            continue
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            status = delivery_status(inner[0], own_id)
            if status is not None:
                why = f"{status.why} (attached to the mail system's notice)"
                return _report(status.kind, why, status.bounces, status.original_message_ids)
        return None
    return None


def _kind(kind: InboundKind, why: str) -> dict[str, object]:
    return {"kind": kind, "why": why}


def _report(kind: InboundKind, why: str, bounces: object, ids: object) -> dict[str, object]:
    return {"kind": kind, "why": why, "bounces": bounces, "original_message_ids": ids}


def _is_read_receipt(message: Message) -> bool:
    """An RFC 8098 disposition notification ("Read: …"): automatic, and not an answer."""
    report_type = str(message.get_param("report-type", "") or "").lower()
    if (
        message.get_content_type() == "multipart/report"
        and report_type == "disposition-notification"
    ):
        return True
    payload = message.get_payload() if message.is_multipart() else []
    return any(
        part.get_content_type() == "message/disposition-notification"
        for part in (payload if isinstance(payload, list) else [])
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


def _first_id(value: str) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None


def _sender(message: Message) -> str | None:
    """The From address (else Sender), lower-cased; None when there is none usable."""
    for name in ("From", "Sender"):
        found = addresses([header(message, name)], limit=1)
        if found:
            return found[0]
    return None


def _recipients(message: Message) -> list[str]:
    """To, Delivered-To, X-Original-To, Envelope-To: where a VERP token shows."""
    values: list[str] = []
    for name in _RECIPIENT_FIELDS:
        values += all_headers(message, name)[:10]
    return list(dict.fromkeys(addresses(values)))


def _sent_at(value: str) -> datetime | None:
    """The Date in UTC; a date without zone (``-0000``) is taken as UTC."""
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value[:200])
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _auto_reply_text(message: Message) -> str:
    """The first lines an auto-reply says (where a return date is read), at most 4 KB."""
    try:
        return new_text(body_text(message)[: AUTO_REPLY_TEXT * 4])[:AUTO_REPLY_TEXT]
    except Exception:  # a nicety too: the auto-reply is recorded without it
        return ""


def _snippet(message: Message) -> str:
    try:
        return snippet(body_text(message))
    except Exception:  # a snippet is a nicety; never lose the classification over it
        return ""
