"""RFC 3464 delivery-status notifications: who failed, was delayed or got it, and why.

An RFC 3464 report (``multipart/report; report-type=delivery-status``, what
Postfix, Exchange/Office 365, Gmail and Sendmail send) is read here with the
stdlib: the ``message/delivery-status`` part is a few header blocks whose
per-recipient fields (Action, Status, Final-Recipient, Diagnostic-Code) say
exactly what happened. The Action is read as RFC 3464 §2.3.3 defines it:
``failed`` (and ``expired``, which some MTAs write) is a failure, ``delayed`` a
delay, ``delivered`` / ``relayed`` / ``expanded`` a success. Why a recipient
failed is read from the Status and the Diagnostic-Code by the reasons shared
with SMTP answers (``outbound.mail.reasons``). Free-text bounces are read by
``classify_notice``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from outbound.domain.inbound import BouncedRecipient, InboundKind
from outbound.inbound.classify_text import part_text
from outbound.inbound.headers import header, message_ids
from outbound.inbound.notice_text import (
    DELIVERY_STATUS,
    RETURNED_HEADERS,
    RETURNED_MESSAGE,
    notification_parts,
    notification_text,
    plain_words,
    words_about,
)
from outbound.mail.reasons import Reading, Reason, read_answer

_MESSAGE_ID_LINE = re.compile(r"^[ \t]*Message-I[Dd][ \t]*:[ \t]*(<[^<>\s]+>)", re.MULTILINE | re.I)
MAX_REPORTED = 20  # recipients read from one report (we send each message to one address)
_LOOP = re.compile(r"loop|hops?\b|forwarded more than", re.IGNORECASE)
_FAILED = ("fail", "error", "expired", "undeliver", "abort", "permanent")  # opensmtpd: "error"
_SUCCESS = ("deliver", "relay", "expand")  # "deliverable": Postfix's address verification
# Status codes a report invents from the reason when the server gave only words.
_REASON_DETAIL = {
    Reason.USER_UNKNOWN: "1.1",
    Reason.HOST_UNKNOWN: "1.2",
    Reason.MAILBOX_DISABLED: "2.1",
    Reason.MAILBOX_FULL: "2.2",
    Reason.MESSAGE_TOO_BIG: "3.4",
    Reason.EXPIRED: "4.7",
}


@dataclass
class DeliveryReport:
    """What a delivery-status notification says, in the classifier's terms."""

    kind: InboundKind
    why: str
    bounces: list[BouncedRecipient] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)


def returned_message_ids(message: Message, own_id: str | None) -> list[str]:
    """Message-IDs of the message a bounce is about: from the returned message
    (``message/rfc822``), its headers (``text/rfc822-headers``), else a ``Message-ID:``
    line in a plain-text bounce's copy of it."""
    found: list[str] = []
    for part in notification_parts(message):
        content_type = part.get_content_type()
        if content_type in RETURNED_MESSAGE:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found += message_ids(header(inner[0], "Message-ID"))
            elif isinstance(inner, str):
                found += _MESSAGE_ID_LINE.findall(inner)
        elif content_type in RETURNED_HEADERS:
            found += _MESSAGE_ID_LINE.findall(part_text(part))
    if not found:
        for part in notification_parts(message):
            if part.get_content_maintype() == "text" and part.get_content_type() != "text/html":
                found += _MESSAGE_ID_LINE.findall(part_text(part))
    return [i for i in dict.fromkeys(found) if i != own_id]


def recipient(
    address: str,
    evidence: str,
    status: str | None,
    final: bool,
    default_class: str,
    notice: str = "",
    others: list[str] | None = None,
    diagnostic: str | None = None,
) -> BouncedRecipient:
    """One reported recipient: its reason read from the evidence (a diagnostic, or the
    notice's words about it), hard when the address is gone and the failure final.

    A diagnostic that names no reason exactly ("550 5.0.0", a mailer's exit code) is
    completed by the notice's words about the recipient. A final failure for a network
    reason with a 4.x.x status is the mail system giving up: expired."""
    reading = read_answer(evidence, status=status)
    if not reading.specific and notice.strip():
        about = read_answer(words_about(address, notice, others) if address else "", status=status)
        if not about.specific:
            about = read_answer(plain_words(notice), status=status)
        if about.specific:
            reading = Reading(
                about.reason,
                reading.enhanced or about.enhanced,
                reading.code or about.code,
                about.temporary,
            )
    if (
        final
        and reading.reason is Reason.NETWORK_ERROR
        and _status(reading, default_class).startswith("4")
        and not _LOOP.search(evidence + " " + notice[:2000])
    ):
        reading = Reading(Reason.EXPIRED, reading.enhanced, reading.code, reading.temporary)
    return BouncedRecipient(
        address=address,
        status=_status(reading, default_class),
        diagnostic=(diagnostic or " ".join(evidence.split()))[:500] or None,
        permanent=_status(reading, default_class).startswith("5"),
        reason=reading.reason.value,
        hard=reading.address_gone(final=final),
    )


def _status(reading: Reading, default_class: str) -> str:
    """The enhanced status: the one given, else the class of the reply code (or of the
    report) with the detail the reason implies, else ``X.0.0``."""
    if reading.enhanced:
        return reading.enhanced
    klass = str(reading.code)[0] if reading.code and str(reading.code)[0] in "45" else None
    return f"{klass or default_class}.{_REASON_DETAIL.get(reading.reason, '0.0')}"


def delivery_status(message: Message, own_id: str | None) -> DeliveryReport | None:
    """The report of an RFC 3464 notification, or None when it has no per-recipient block.

    Any failed recipient makes it a BOUNCE (each failed recipient listed); delays only make
    it DELAYED; success only (delivered, relayed, expanded) makes it DELIVERED.
    """
    blocks: list[dict[str, str]] = []
    for part in notification_parts(message):
        if part.get_content_type() in DELIVERY_STATUS:
            blocks += _status_blocks(part)
    per_recipient = [b for b in blocks if "action" in b or ("status" in b and _address(b))]
    per_recipient = per_recipient[:MAX_REPORTED]
    if not per_recipient:
        return None
    failed: list[BouncedRecipient] = []
    delayed: list[BouncedRecipient] = []
    delivered: list[str] = []
    notice = notification_text(message)
    everyone = [_address(b) for b in per_recipient]
    for block in per_recipient:
        action = _action(block)
        evidence = " ".join(
            block.get(name, "") for name in ("diagnostic-code", "x-diagnostic", "x-diagnostic-code")
        )
        evidence = _without_type(evidence) or block.get("status", "")
        address = _address(block)
        if "expired" in block.get("action", "").lower():
            evidence = f"{evidence} (expired)"  # RFC 3464's Action says why, if nothing else
        if action == "failed":
            failed.append(
                recipient(address, evidence, block.get("status"), True, "5", notice, everyone)
            )
        elif action == "delayed":
            delayed.append(
                recipient(address, evidence, block.get("status"), False, "4", notice, everyone)
            )
        else:
            delivered.append(address)
    ids = returned_message_ids(message, own_id) or _reported_ids(blocks, own_id)
    if failed:
        codes = ", ".join(dict.fromkeys(f"{b.status} {b.reason}" for b in failed))
        why = f"RFC 3464 report: {len(failed)} recipient(s) failed ({codes})"
        return DeliveryReport(InboundKind.BOUNCE, why, failed, ids)
    if delayed:
        why = f"RFC 3464 report: delivery delayed for {len(delayed)} recipient(s), not a bounce"
        return DeliveryReport(InboundKind.DELAYED, why, delayed, ids)
    why = f"RFC 3464 report of success for {len(delivered)} recipient(s)"
    return DeliveryReport(InboundKind.DELIVERED, why, [], ids)


def _action(block: dict[str, str]) -> str:
    """failed, delayed or delivered, from the Action (else from the Status class)."""
    action = block.get("action", "").strip().lower()
    if any(word in action for word in _FAILED):
        return "failed"
    if action.startswith("delay"):
        return "delayed"
    if action.startswith(_SUCCESS):
        return "delivered"
    status = block.get("status", "").strip()
    if status.startswith("2"):
        return "delivered"
    return "delayed" if status.startswith("4") and not action else "failed"


def _without_type(diagnostic: str) -> str:
    """A Diagnostic-Code without its type ("smtp; 550 …" → "550 …")."""
    diagnostic = " ".join(diagnostic.split())
    if ";" in diagnostic[:20]:
        return diagnostic.partition(";")[2].strip()
    return diagnostic


def _reported_ids(blocks: list[dict[str, str]], own_id: str | None) -> list[str]:
    """Gmail and others name the message in the per-message block (X-Original-Message-ID):
    the fallback when nothing of the message is returned."""
    found = [i for b in blocks for i in message_ids(b.get("x-original-message-id", ""))]
    return [i for i in dict.fromkeys(found) if i != own_id]


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status part, field names lower-cased.

    The parser splits ``message/delivery-status`` into one sub-message per block;
    ``message/global-delivery-status`` (or a part it could not split) arrives as a
    message or text, parsed here the same way.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks: list[dict[str, str]] = []
        for block in payload[: MAX_REPORTED + 10]:
            if not isinstance(block, Message):
                continue
            fields = {name.lower(): header(block, name) for name in block}
            inner = block.get_payload()
            more = _text_blocks(inner) if isinstance(inner, str) and inner.strip() else []
            if more:  # a line the parser took for the body: the rest of the same block
                for name, value in more[0].items():
                    fields.setdefault(name, value)
                more = more[1:]
            blocks += [fields, *more]
        return blocks
    if isinstance(payload, str):
        return _text_blocks(payload)
    return []


def _text_blocks(text: str) -> list[dict[str, str]]:
    """Header blocks separated by blank lines, continuation lines unfolded."""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text[:200_000]):
        fields: dict[str, str] = {}
        name = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                fields[name] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _address(block: dict[str, str]) -> str:
    """Original-Recipient (the address as we gave it in RCPT TO) before Final-Recipient
    (after aliases and forwarding), as ``type; address``."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(name, "")
        address = value.partition(";")[2] if ";" in value else value
        address = address.strip().strip("<>").strip().lower()
        if "@" in address and " " not in address:
            return address
    return ""
