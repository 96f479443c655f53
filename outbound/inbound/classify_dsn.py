"""Delivery-status notifications: which recipients failed, with what code, about which message.

Two paths. An RFC 3464 report (``multipart/report; report-type=delivery-status``,
what Postfix, Exchange/Office 365, Gmail and Sendmail send) is read here with
the stdlib: the ``message/delivery-status`` part is a few header blocks whose
per-recipient fields (Action, Status, Final-Recipient, Diagnostic-Code) say
exactly what happened, and flufl.bounce's DSN detector would throw the Status
and Diagnostic-Code away (it returns bare addresses). Anything else that comes
from the mail system (qmail, Exim, Yahoo, old Postfix, old Gmail, Exchange
2003 …) is free text, and recognising its many layouts is what flufl.bounce is
for; its addresses are then completed with the status code and server answer
found next to them in the text, because the pipeline decides hard against soft
bounces on the enhanced status code.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

import flufl.bounce

from outbound.domain.inbound import BouncedRecipient, InboundKind
from outbound.inbound.classify_text import MAX_TEXT, html_to_text, part_text

log = logging.getLogger(__name__)

_FLUFL_BYTES = 256 * 1024
_DELIVERY_STATUS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_RETURNED_MESSAGE = frozenset({"message/rfc822", "message/global"})
_RETURNED_HEADERS = frozenset({"text/rfc822-headers", "message/global-headers"})

# An enhanced status code (RFC 3463) and a basic SMTP reply code, not inside a dotted number
# such as an IP address or a version.
_ENHANCED = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([45][0-5]\d)(?=[ -]|$)", re.MULTILINE)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_MESSAGE_ID_LINE = re.compile(r"^[ \t]*Message-I[Dd][ \t]*:[ \t]*(<[^<>\s]+>)", re.MULTILINE | re.I)

# Who sends bounces, and how they are titled (anchored: "Re: Undeliverable …" is a person).
_DAEMON_LOCAL = re.compile(
    r"^(mailer[-_]?daemon|mail[-_]?daemon|postmaster|mdaemon|bounces?"
    r"|microsoftexchange[0-9a-f]{32})$",  # Exchange's NDR sender
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(r"mail delivery (sub)?system|mail delivery service", re.IGNORECASE)
_FAILURE_SUBJECT = re.compile(
    r"^\s*(undeliver|undelivered mail|delivery status notification|mail delivery failed"
    r"|failure notice|returned mail|delivery failure|delivery has failed|mail system error"
    r"|non[- ]?delivery|message not delivered|nondeliverable|could not send message"
    r"|unzustellbar|non remis|no se puede entregar|niet bezorgd|delayed mail|delivery delayed"
    r"|warning: message|mail delivery delayed)",
    re.IGNORECASE,
)
_WARNING_ONLY = re.compile(r"warning only|warning message only|do not need to resend", re.I)
_DELAY_TEXT = re.compile(
    r"\bdelay(ed)?\b|still being retried|will (continue to )?(be )?retr|not yet been delivered"
    r"|warning message only|no action is required|will keep trying|has been postponed",
    re.IGNORECASE,
)
_FAILURE_TEXT = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't delivered|was not delivered"
    r"|unable to deliver|delivery to the following recipients? failed|failed permanently"
    r"|permanent error|permanent fatal|undeliverable|did not reach|given up|giving up"
    r"|address(es)? failed|rejected",
    re.IGNORECASE,
)
# Words that name the failure when a server gives only a basic code. Deliberately narrow:
# "Sender address rejected" or a policy block must not pass for a dead recipient address.
_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such user|user not found|recipient not found"
    r"|address not found|mailbox not found|no mailbox|invalid recipient|unknown recipient"
    r"|(account|address|mailbox|recipient|user)( that you tried to reach)? does(n't| not) exist"
    r"|doesn't have an? [\w.-]{1,40} account",
    re.IGNORECASE,
)
_BAD_DOMAIN = re.compile(
    r"domain not found|host not found|no such domain|domain does not exist", re.I
)
_MAILBOX_FULL = re.compile(
    r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage", re.I
)
# Where the copy of the returned message begins in a plain-text bounce.
_RETURNED_COPY = re.compile(
    r"^\s*(-{2,}\s*)?(below this line is a copy of the message|this is a copy of the message"
    r"|original message follows|original message|returned mail follows|undelivered message"
    r"|forwarded message|the original message was|a copy of the original message)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass
class DeliveryReport:
    """What a delivery-status notification says, in the classifier's terms."""

    kind: InboundKind
    why: str
    bounces: list[BouncedRecipient] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)


# -- the tree ------------------------------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """Every part of the notification itself: never inside the returned message (which may
    be anything, even a bounce) nor into the delivery-status blocks."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        yield part
        content_type = part.get_content_type()
        if content_type in _RETURNED_MESSAGE or content_type in _DELIVERY_STATUS:
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack = [c for c in children if isinstance(c, Message)] + stack


def returned_message_ids(message: Message, own_id: str | None) -> list[str]:
    """Message-IDs of the message a bounce is about: from the returned message
    (``message/rfc822``), its headers (``text/rfc822-headers``), else a ``Message-ID:``
    line in a plain-text bounce's copy of it."""
    found: list[str] = []
    for part in _parts(message):
        content_type = part.get_content_type()
        if content_type in _RETURNED_MESSAGE:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found += _MESSAGE_ID.findall(_header(inner[0], "Message-ID"))
            elif isinstance(inner, str):
                found += _MESSAGE_ID_LINE.findall(inner)
        elif content_type in _RETURNED_HEADERS:
            found += _MESSAGE_ID_LINE.findall(part_text(part))
    if not found:
        for part in _parts(message):
            if part.get_content_maintype() == "text" and part.get_content_type() != "text/html":
                found += _MESSAGE_ID_LINE.findall(part_text(part))
    return [i for i in dict.fromkeys(found) if i != own_id]


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name) or "")
    except Exception:  # the header registry has raised on hostile input; a bounce must not
        return ""


# -- RFC 3464 ------------------------------------------------------------------------------


def delivery_status(message: Message, own_id: str | None) -> DeliveryReport | None:
    """The report of an RFC 3464 notification, or None when it has no per-recipient block.

    ``Action: failed`` makes it a bounce (each failed recipient listed); only ``delayed``
    makes it DELAYED (the delayed recipients listed, not permanent); only delivered /
    relayed / expanded is a success report (OTHER).
    """
    blocks: list[dict[str, str]] = []
    for part in _parts(message):
        if part.get_content_type() in _DELIVERY_STATUS:
            blocks += _status_blocks(part)
    per_recipient = [b for b in blocks if "action" in b]
    if not per_recipient:
        return None
    failed: list[BouncedRecipient] = []
    delayed: list[BouncedRecipient] = []
    other: list[str] = []
    for block in per_recipient:
        action = block["action"].split()[0].lower() if block["action"].split() else ""
        address = _recipient_address(block)
        if action.startswith(("fail", "error")):  # opensmtpd writes "error"
            failed.append(_reported(address, block, default_class="5"))
        elif action.startswith("delay"):
            delayed.append(_reported(address, block, default_class="4"))
        else:
            other.append(action or "no action")
    ids = returned_message_ids(message, own_id) or _reported_ids(blocks, own_id)
    if failed:
        codes = ", ".join(dict.fromkeys(b.status or "no status" for b in failed))
        why = f"RFC 3464 report: {len(failed)} recipient(s) failed ({codes})"
        return DeliveryReport(InboundKind.BOUNCE, why, failed, ids)
    if delayed:
        why = f"RFC 3464 report: delivery delayed for {len(delayed)} recipient(s), not a bounce"
        return DeliveryReport(InboundKind.DELAYED, why, delayed, ids)
    why = f"RFC 3464 report of success ({', '.join(dict.fromkeys(other))})"
    return DeliveryReport(InboundKind.OTHER, why, [], ids)


def _reported_ids(blocks: list[dict[str, str]], own_id: str | None) -> list[str]:
    """Gmail and others name the message in the per-message block (X-Original-Message-ID):
    the fallback when nothing of the message is returned."""
    found = [i for b in blocks for i in _MESSAGE_ID.findall(b.get("x-original-message-id", ""))]
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
        for block in payload:
            if not isinstance(block, Message):
                continue
            fields = {name.lower(): _header(block, name) for name in block}
            blocks.append(fields)
            inner = block.get_payload()
            if isinstance(inner, str) and inner.strip():  # blocks the parser did not split
                blocks += _text_blocks(inner)
        return blocks
    if isinstance(payload, str):
        return _text_blocks(payload)
    return []


def _text_blocks(text: str) -> list[dict[str, str]]:
    """Header blocks separated by blank lines, continuation lines unfolded."""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
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


def _recipient_address(block: dict[str, str]) -> str:
    """Original-Recipient (the address as we gave it in RCPT TO) before Final-Recipient
    (after aliases and forwarding), as ``type; address``."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(name, "")
        address = value.partition(";")[2] if ";" in value else value
        address = address.strip().strip("<>").strip().lower()
        if "@" in address:
            return address
    return ""


def _reported(address: str, block: dict[str, str], default_class: str) -> BouncedRecipient:
    diagnostic = " ".join(block.get("diagnostic-code", "").split())
    if ";" in diagnostic[:12]:  # "smtp; 550 …": drop the diagnostic type
        diagnostic = diagnostic.partition(";")[2].strip()
    found = _ENHANCED.search(block.get("status", "")) or _ENHANCED.search(diagnostic)
    status = found.group(1) if found else _inferred_status(diagnostic, default_class)
    return BouncedRecipient(
        address=address,
        status=status,
        diagnostic=diagnostic or None,
        permanent=status.startswith("5"),
    )


def _inferred_status(text: str, default_class: str) -> str:
    """An enhanced code for a server answer that has only a basic one ("554 delivery error:
    This user doesn't have an account"): the class from the basic code, the detail from
    the words (X.1.1 no such user, X.1.2 no such domain, X.2.2 mailbox full, else X.0.0,
    "other"). The server's own words stay in the diagnostic."""
    basic = _BASIC.search(text)
    klass = basic.group(1)[0] if basic else default_class
    if _USER_UNKNOWN.search(text):
        return f"{klass}.1.1"
    if _BAD_DOMAIN.search(text):
        return f"{klass}.1.2"
    if _MAILBOX_FULL.search(text):
        return f"{klass}.2.2"
    return f"{klass}.0.0"


# -- everything else from the mail system ----------------------------------------------------


def looks_like_bounce(message: Message, sender: str | None, subject: str) -> bool:
    """Whether the mail system (not a person) sent it: a daemon sender, an Exim
    ``X-Failed-Recipients``, a bounce subject, or a null Return-Path. Only then are the
    bounce heuristics run, so a person's reply about a bounce is never taken for one."""
    if "X-Failed-Recipients" in message:
        return True
    local = (sender or "").rpartition("@")[0]
    if _DAEMON_LOCAL.match(local) or _DAEMON_NAME.search(_header(message, "From")):
        return True
    if _FAILURE_SUBJECT.match(subject):
        return True
    return _header(message, "Return-Path").strip() == "<>"


def nonstandard_bounce(
    raw: bytes,
    message: Message,
    sender: str | None,
    subject: str,
    ours: set[str],
    own_id: str | None,
) -> DeliveryReport | None:
    """The report of a bounce that is not RFC 3464, or None when it does not look like one.

    Failed recipients come from flufl.bounce, else from the notification text
    (``<address>:`` or an address next to a status code), else from the returned
    message's To. A notification that only warns of delay is DELAYED.
    """
    notification = _notification_text(message)
    temporary, permanent = _flufl_failures(raw)
    by_flufl = bool(temporary or permanent)
    named = {a for a in permanent | temporary if _is_candidate(a, ours, sender)}
    candidates = named or _addresses_in_text(notification, ours, sender)
    if not candidates:
        candidates = _returned_to(message, ours)
    has_code = bool(_ENHANCED.search(notification) or _BASIC.search(notification))
    daemon = _DAEMON_LOCAL.match((sender or "").rpartition("@")[0]) is not None
    failure_subject = _FAILURE_SUBJECT.match(subject) is not None
    failure_text = _FAILURE_TEXT.search(notification) is not None
    evidence = by_flufl or ((daemon or failure_subject or failure_text) and has_code)
    if not evidence and not (daemon and (failure_subject or failure_text)):
        return None  # from the mail system maybe, but it reports no failure
    ids = returned_message_ids(message, own_id)
    warning_only = _WARNING_ONLY.search(notification) is not None
    delay_words = bool(_DELAY_TEXT.search(subject) or _DELAY_TEXT.search(notification))
    only_warning = (bool(temporary) and not permanent) or (
        delay_words and (warning_only or not failure_text)
    )
    soft = {a for a in candidates if only_warning or (a in temporary and a not in permanent)}
    reports = [
        _recipient_in_text(address, notification, "4" if address in soft else "5")
        for address in sorted(candidates)
    ]
    if only_warning and not any(r.permanent for r in reports):
        why = "delay warning from the mail system, not a bounce"
        return DeliveryReport(InboundKind.DELAYED, why, reports, ids)
    if not reports:
        why = "bounce from the mail system; the failed recipient is not named in it"
        return DeliveryReport(InboundKind.BOUNCE, why, [], ids)
    source = "flufl.bounce" if by_flufl else "the notification text"
    codes = ", ".join(dict.fromkeys(r.status or "no status" for r in reports))
    why = f"non-standard bounce ({source}): {len(reports)} recipient(s) failed ({codes})"
    return DeliveryReport(InboundKind.BOUNCE, why, reports, ids)


def _flufl_failures(raw: bytes) -> tuple[set[str], set[str]]:
    """flufl.bounce's temporary and permanent failures, as lower-cased strings.

    It is given its own compat32 parse: its detectors are written and tested against
    ``email.message.Message`` as compat32 builds it. Only the first 256 KiB: the
    notification comes first, and its heuristics scan every line of every part, which
    takes seconds on a returned copy with a large attachment.
    """
    try:
        parsed = email.message_from_bytes(raw[:_FLUFL_BYTES])
        temporary, permanent = flufl.bounce.all_failures(parsed)
    except Exception:  # a detector failing on odd input must not fail the message
        log.warning("flufl.bounce failed on a message", exc_info=True)
        return set(), set()

    def decoded(found: frozenset[bytes]) -> set[str]:
        addresses = {a.decode("ascii", "replace").strip().strip("<>").lower() for a in found}
        return {a for a in addresses if "@" in a}

    return decoded(temporary), decoded(permanent)


def _notification_text(message: Message) -> str:
    """The text the mail system wrote: the bounce's own text parts, without the returned
    message (attached, or pasted below a "copy of the message" line)."""
    texts: list[str] = []
    html: list[Message] = []
    for part in _parts(message):
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/plain":
            texts.append(part_text(part)[:MAX_TEXT])
        elif part.get_content_type() == "text/html":
            html.append(part)
    if not texts:  # an HTML-only notification (rare): its visible text
        texts = [html_to_text(part_text(part)[:MAX_TEXT]) for part in html]
    text = "\n".join(texts)[:MAX_TEXT]
    copy = _RETURNED_COPY.search(text)
    return text[: copy.start()] if copy else text


def _addresses_in_text(text: str, ours: set[str], sender: str | None) -> set[str]:
    """Addresses the notification names as failed: ``<address>:`` (qmail, Yahoo, Postfix)
    or an address on a line with a status code or right before one."""
    lines = text.splitlines()
    found: set[str] = set()
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        coded = any(_ENHANCED.search(x) or _BASIC.search(x) for x in lines[index : index + 4])
        angled = [m.group(1) for m in _ANGLE_ADDRESS.finditer(line) if line.strip().endswith(":")]
        for address in angled + (_ADDRESS.findall(line) if coded else []):
            found.add(address.lower())
    return {a for a in found if _is_candidate(a, ours, sender)}


def _returned_to(message: Message, ours: set[str]) -> set[str]:
    """The returned message's To, as the last resort for who failed."""
    values: list[str] = []
    for part in _parts(message):
        content_type = part.get_content_type()
        if content_type in _RETURNED_MESSAGE:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                values.append(_header(inner[0], "To"))
        elif content_type in _RETURNED_HEADERS:
            values += re.findall(r"^To:[ \t]*(.+)$", part_text(part), re.MULTILINE | re.I)
    addresses = {a.lower() for _, a in getaddresses(values) if "@" in a}
    return {a for a in addresses if _is_candidate(a, ours, None)}


def _is_candidate(address: str, ours: set[str], sender: str | None) -> bool:
    local = address.rpartition("@")[0]
    return address not in ours and address != sender and not _DAEMON_LOCAL.match(local)


def _recipient_in_text(address: str, text: str, default_class: str) -> BouncedRecipient:
    """The status and server answer next to ``address`` in the notification (the paragraph
    that names it), else the first ones in the text, else inferred from the words."""
    lines = text.splitlines()
    window: list[str] = []
    for index, line in enumerate(lines):
        if address in line.lower():
            for later in lines[index : index + 8]:
                if not later.strip() and len(window) > 1:
                    break
                window.append(later)
            if any(_ENHANCED.search(w) or _BASIC.search(w) for w in window):
                break
            window = []
    diagnostic = _code_line(window) or _code_line(lines)
    found = _ENHANCED.search(diagnostic or "")
    status = found.group(1) if found else _inferred_status(diagnostic or text, default_class)
    return BouncedRecipient(
        address=address,
        status=status,
        diagnostic=diagnostic,
        permanent=status.startswith("5"),
    )


def _code_line(lines: list[str]) -> str | None:
    """The first line with an enhanced status code, else with a basic reply code, with the
    lines indented below it (Postfix and others fold a long server answer so)."""
    for pattern in (_ENHANCED, _BASIC):
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
