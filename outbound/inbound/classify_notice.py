"""Bounces a mail system writes as free text (qmail, Exim, Yahoo, old Postfix, Exchange 2003 …).

Recognising their many layouts is what flufl.bounce is for; it names the
failed addresses (temporary or permanent). The addresses are completed here
from the notification's own text: the server answer or the words next to
each address say why it failed, read by the reasons shared with SMTP answers.
When flufl.bounce finds nothing, the text itself is read: ``<address>:``
lines (qmail, Yahoo, Postfix), an address next to a status code, else the
returned message's To. A notice that only warns of a delay is DELAYED.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

import flufl.bounce

from outbound.domain.inbound import InboundKind
from outbound.inbound.classify_dsn import (
    MAX_REPORTED,
    DeliveryReport,
    recipient,
    returned_message_ids,
)
from outbound.inbound.classify_text import part_text
from outbound.inbound.headers import addresses, header
from outbound.inbound.notice_text import (
    RETURNED_HEADERS,
    RETURNED_MESSAGE,
    answer_about,
    notification_parts,
    notification_text,
    plain_words,
    words_about,
)
from outbound.inbound.notices import FAILURE_SUBJECT, is_daemon
from outbound.mail.reasons import BASIC, ENHANCED, Reading, Reason, read_answer

log = logging.getLogger(__name__)

_FLUFL_BYTES = 256 * 1024
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_WARNING_ONLY = re.compile(
    r"warning only|warning message only|do not need to resend|only a temporary failure"
    r"|this is just a warning|no action is required|will (?:continue to )?(?:attempt|retry)",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"\bdelay(?:ed)?\b|still being retried|will (?:continue to )?(?:be )?retr|not yet been"
    r" delivered|has not yet been delivered|warning message only|no action is required"
    r"|will keep trying|has been postponed|attempts will continue|could not send message for"
    r" past|could not send mail for past|still undelivered|delayed for more than",
    re.IGNORECASE,
)
_FAILURE_TEXT = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't delivered|was not delivered"
    r"|unable to deliver|delivery to the following recipients? failed|failed permanently"
    r"|permanent error|permanent fatal|undeliverable|did not reach|given up|giving up"
    r"|address(?:es)? failed|rejected|not delivered|could not be sent|delivery failed"
    r"|delivery failure|was undeliverable|had delivery (?:problems|errors)"
    r"|unable to be delivered|had permanent|could not be reached|cannot be delivered"
    r"|error delivering"
    r"|non recapitabile|unzustellbar|n'a pas pu|no pudo ser"
    r"|не может быть доставлено|не доставлено|无法|送信できませんでした|配信できませんでした",
    re.IGNORECASE,
)
# A line that names a failed recipient and says why: "addr: reason", "addr [reason]",
# "addr (reason)", "RCPT TO: addr", "Failed Recipient: addr", "Delivery failed: addr".
_NAMED = re.compile(
    r"^\s*[*>-]?\s*<?(?P<a>[^\s<>()\[\]:,;\"']+@[^\s<>()\[\]:,;\"']+)>?\s*(?::\s*\S|\[|\()"
    r"|(?:rcpt to|failed recipient|delivery failed|recipient address|to the following "
    r"recipient|to the following address(?:es)?)\s*:?\s*<?(?P<b>[^\s<>()\[\]:,;\"']+@"
    r"[^\s<>()\[\]:,;\"']+?)>?[\s.,]*$",
    re.IGNORECASE | re.MULTILINE,
)
_NOT_A_RECIPIENT_LINE = re.compile(
    r"^\s*(?:from|reply-to|return-path|sender|message-id|x-[\w-]+|received|cc)\s*:"
    r"|contact|please|visit|mailto|https?://|report|postmaster",
    re.IGNORECASE,
)
_GROUPS = re.compile(r"groups\.google\.com", re.IGNORECASE)
_WARNING_SUBJECT = re.compile(r"^\s*warning\b", re.IGNORECASE)
_POSTMASTER_NOTICE = re.compile(r"^\s*postfix smtp server: errors from", re.IGNORECASE)


def nonstandard_bounce(
    message: Message,
    size: int,
    sender: str | None,
    subject: str,
    ours: set[str],
    own_id: str | None,
    machine: bool = False,
) -> DeliveryReport | None:
    """The report of a bounce that is not RFC 3464, or None when it does not look like one.

    ``machine``: other signals say a machine wrote it (a no-reply sender): then words of
    failure and a named recipient are enough, as they are from a mail-system sender."""
    notification = notification_text(message)
    temporary, permanent = _flufl_failures(message, size)
    by_flufl = bool(temporary or permanent)
    named = [a for a in [*permanent, *temporary] if _is_candidate(a, ours, sender)]
    candidates = _in_order(named, notification) or _addresses_in_text(notification, ours, sender)
    mentioned_only = False
    if not candidates:
        candidates = _returned_to(message, ours)
    if not candidates:
        candidates, mentioned_only = _mentioned(notification, ours, sender), True
    has_code = bool(ENHANCED.search(notification) or BASIC.search(notification))
    daemon = is_daemon(sender or "")
    failure_subject = FAILURE_SUBJECT.match(subject) is not None
    failure_text = _FAILURE_TEXT.search(notification) is not None
    evidence = by_flufl or ((daemon or failure_subject or failure_text) and has_code)
    if _POSTMASTER_NOTICE.match(subject):
        return None  # a transcript for the postmaster, not a failure of a message
    if not evidence and not (
        (daemon or failure_subject or (machine and failure_text))
        and (failure_text or (candidates and not mentioned_only))
    ):
        if not ((daemon or failure_subject or machine) and candidates):
            return None  # from a machine maybe, but it reports no failure we can read
        readings = [_read(a, notification, candidates) for a in candidates[:3]]
        readings.append(read_answer(plain_words(notification)))
        if not any(r.specific and r.reason is not Reason.UNDEFINED for r in readings):
            return None
    ids = returned_message_ids(message, own_id)
    warning_only = _WARNING_ONLY.search(notification) is not None
    delay_words = bool(_DELAY_TEXT.search(subject) or _DELAY_TEXT.search(notification))
    only_warning = (bool(temporary) and not permanent and (delay_words or warning_only)) or (
        delay_words and (warning_only or not failure_text or _WARNING_SUBJECT.match(subject))
    )
    candidates = candidates[:MAX_REPORTED]
    reports = [
        recipient(
            a,
            _words(a, notification, candidates),
            None,
            not only_warning,
            "4" if only_warning else "5",
            notification,
            candidates,
            answer_about(a, notification, candidates),
        )
        for a in candidates
    ] or [recipient("", notification, None, not only_warning, "4" if only_warning else "5")]
    if only_warning:
        why = "delay warning from the mail system, not a bounce"
        return DeliveryReport(InboundKind.DELAYED, why, reports, ids)
    if not candidates:
        why = f"bounce from the mail system, the failed recipient not named ({reports[0].reason})"
        return DeliveryReport(InboundKind.BOUNCE, why, reports, ids)
    source = "flufl.bounce" if by_flufl else "the notification text"
    codes = ", ".join(dict.fromkeys(f"{r.status} {r.reason}" for r in reports))
    why = f"non-standard bounce ({source}): {len(reports)} recipient(s) failed ({codes})"
    return DeliveryReport(InboundKind.BOUNCE, why, reports, ids)


def _flufl_failures(message: Message, size: int) -> tuple[list[str], list[str]]:
    """flufl.bounce's temporary and permanent failures, as lower-cased strings.

    Its detectors are written and tested against compat32 messages, which is how the
    classifier parses. They scan every line of every part, so a message past
    ``_FLUFL_BYTES`` is not given to them (the text is read instead).
    """
    try:
        if size > _FLUFL_BYTES:
            return [], []
        temporary, permanent = flufl.bounce.all_failures(message)
    except Exception:  # a detector failing on odd input must not fail the message
        log.warning("flufl.bounce failed on a message", exc_info=True)
        return [], []

    def decoded(found: frozenset[bytes]) -> list[str]:
        found_addresses = [a.decode("ascii", "replace").strip().strip("<>").lower() for a in found]
        return sorted(a for a in found_addresses if "@" in a and " " not in a)

    return decoded(temporary), decoded(permanent)


def _in_order(found: list[str], text: str) -> list[str]:
    """Addresses in the order the notification names them (its first failure first)."""
    lowered = text.lower()
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda a: (lowered.find(a) if a in lowered else len(lowered), a))


def _addresses_in_text(text: str, ours: set[str], sender: str | None) -> list[str]:
    """Addresses the notification names as failed: ``<address>:`` (qmail, Yahoo, Postfix)
    or an address on a line with a status code or right before one."""
    lines = text.splitlines()
    found: list[str] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        coded = any(ENHANCED.search(x) or BASIC.search(x) for x in lines[index : index + 4])
        angled = [m.group(1) for m in _ANGLE_ADDRESS.finditer(line) if line.strip().endswith(":")]
        named = [m.group("a") or m.group("b") for m in _NAMED.finditer(line)]
        found += [a.lower() for a in angled + named + (_ADDRESS.findall(line) if coded else [])]
    return [a for a in dict.fromkeys(found) if _is_candidate(a, ours, sender)]


def _returned_to(message: Message, ours: set[str]) -> list[str]:
    """The returned message's To, as the last resort for who failed."""
    values: list[str] = []
    for part in notification_parts(message):
        content_type = part.get_content_type()
        if content_type in RETURNED_MESSAGE:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                values.append(header(inner[0], "To"))
        elif content_type in RETURNED_HEADERS:
            values += re.findall(r"^To:[ \t]*(.+)$", part_text(part), re.MULTILINE | re.I)
    return [a for a in addresses(values, limit=10) if _is_candidate(a, ours, None)]


def _is_candidate(address: str, ours: set[str], sender: str | None) -> bool:
    return address not in ours and address != sender and not is_daemon(address)


def _words(address: str, notification: str, candidates: list[str]) -> str:
    """What the notice says about ``address`` (a Google Groups refusal: all of it, for its
    wording says "may not exist, or you may not have permission")."""
    if _GROUPS.search(notification):
        return " ".join(notification.split())[:1500]
    return words_about(address, notification, candidates)


def _read(address: str, notification: str, candidates: list[str]) -> Reading:
    return read_answer(_words(address, notification, candidates))


def _mentioned(text: str, ours: set[str], sender: str | None) -> list[str]:
    """The last resort: addresses the notice mentions outside contact lines and headers."""
    found: list[str] = []
    for line in text.splitlines():
        if "@" in line and not _NOT_A_RECIPIENT_LINE.search(line):
            found += [a.lower() for a in _ADDRESS.findall(line)]
    return [a for a in dict.fromkeys(found) if _is_candidate(a, ours, sender)][:10]
