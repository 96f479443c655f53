"""Why a message was refused: the one table of reasons for SMTP answers and bounce reports.

An SMTP answer at send time (``outbound.mail.outcomes``) and a bounce report
that arrives days later (``outbound.inbound``) are read by the same
``read_answer``, so "is this address gone?" gets one answer whichever way the
refusal reached us.

The evidence is read from the most to the least specific:

1. words that name the failure exactly win over any code: "over quota" /
   "mailbox full" is a full mailbox whatever the status says (a ``5.1.1``
   beside a server text saying ``552 5.2.2 Over quota`` is not a dead
   address); "blocked using spamhaus" is our sending IP, not the recipient;
2. codes that name the party exactly: ``5.1.7``/``5.1.8`` (our sender
   address), ``5.7.26`` (our SPF/DKIM/DMARC), ``5.7.13`` (the recipient's
   account disabled), then the recipient codes (``x.1.1``, ``x.1.2``,
   ``x.2.1``, ``x.2.2`` …);
3. a generic code (``5.0.0``, ``5.5.0``, none) with the words that say the
   address does not exist, in the wordings of many MTAs and languages;
4. what is left: the class of the code.

Only three reasons mean the address is gone (``user_unknown``,
``host_unknown``, ``mailbox_disabled``), and only when the failure is final
and the words do not say it is temporary. Everything about our side (sender
address, authentication, blocklists, reputation, rate) never condemns the
recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from outbound.mail.reason_words import GENERAL_WORDS, SPECIFIC_WORDS, TEMPORARY


class Party(StrEnum):
    """Whose problem a refusal is."""

    RECIPIENT = "recipient"  # the address or its mailbox
    SENDER = "sender"  # our mailbox: its address, authentication, IP, reputation, rate
    MESSAGE = "message"  # this message: its size, content, headers
    TRANSIT = "transit"  # the way there: DNS, network, queues, the remote system


class Reason(StrEnum):
    """The reasons a message is refused, as both the send path and bounce reports name them."""

    USER_UNKNOWN = "user_unknown"
    HOST_UNKNOWN = "host_unknown"
    MAILBOX_DISABLED = "mailbox_disabled"
    MAILBOX_FULL = "mailbox_full"
    MESSAGE_TOO_BIG = "message_too_big"
    CONTENT_REJECTED = "content_rejected"
    SPAM_DETECTED = "spam_detected"
    BLOCKED = "blocked"
    POLICY = "policy"
    AUTH_FAILURE = "auth_failure"
    SENDER_REJECTED = "sender_rejected"
    RELAY_DENIED = "relay_denied"
    RATE_LIMITED = "rate_limited"
    EXPIRED = "expired"
    NETWORK_ERROR = "network_error"
    SYSTEM_ERROR = "system_error"
    UNDEFINED = "undefined"

    @property
    def party(self) -> Party:
        return _PARTY[self]

    @property
    def address_gone(self) -> bool:
        """The address itself cannot receive mail (when the failure is final)."""
        return self in _GONE


_GONE = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.MAILBOX_DISABLED})
_PARTY = {
    Reason.USER_UNKNOWN: Party.RECIPIENT,
    Reason.HOST_UNKNOWN: Party.RECIPIENT,
    Reason.MAILBOX_DISABLED: Party.RECIPIENT,
    Reason.MAILBOX_FULL: Party.RECIPIENT,
    Reason.MESSAGE_TOO_BIG: Party.MESSAGE,
    Reason.CONTENT_REJECTED: Party.MESSAGE,
    Reason.SPAM_DETECTED: Party.SENDER,
    Reason.BLOCKED: Party.SENDER,
    Reason.POLICY: Party.SENDER,
    Reason.AUTH_FAILURE: Party.SENDER,
    Reason.SENDER_REJECTED: Party.SENDER,
    Reason.RELAY_DENIED: Party.SENDER,
    Reason.RATE_LIMITED: Party.SENDER,
    Reason.EXPIRED: Party.TRANSIT,
    Reason.NETWORK_ERROR: Party.TRANSIT,
    Reason.SYSTEM_ERROR: Party.TRANSIT,
    Reason.UNDEFINED: Party.TRANSIT,
}


@dataclass(frozen=True)
class Reading:
    """What a server's answer (or a report about one) says."""

    reason: Reason
    enhanced: str | None  # the enhanced status code that was taken, e.g. "5.1.1"
    code: int | None  # the basic reply code, e.g. 550
    temporary: bool  # the words say it may pass ("temporarily", "try again later")
    specific: bool = True  # named by exact words or a code, not only by general words

    def address_gone(self, final: bool) -> bool:
        """Whether the address should be suppressed: a recipient-gone reason, a failure that
        is final (a 5xx answer, or a report's ``Action: failed``), not said to be temporary."""
        return self.reason.address_gone and final and not self.temporary


MAX_WORDS = 1500  # what is read of an answer or a notice: the reason comes first
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
BASIC = re.compile(r"(?<![\d.#\w-])([245][0-5]\d)(?=[ -]|$|:|,)")
# A long answer folded by the server repeats its codes on every line ("550-5.7.1 …").
_CODE_PREFIX = re.compile(r"(?<![\w.-])([245]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3} )?")
_MAIL_FROM_STAGE = re.compile(r"after mail from|in reply to mail from|\bmail from\b.*:\s*$", re.I)


_CODE_REASONS: dict[str, Reason] = {
    "1.1": Reason.USER_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,
    "1.6": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.10": Reason.HOST_UNKNOWN,
    "1.7": Reason.SENDER_REJECTED,
    "1.8": Reason.SENDER_REJECTED,
    "2.1": Reason.MAILBOX_DISABLED,
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.MESSAGE_TOO_BIG,
    "3.4": Reason.MESSAGE_TOO_BIG,
    "4.4": Reason.HOST_UNKNOWN,
    "4.7": Reason.EXPIRED,
    "7.13": Reason.MAILBOX_DISABLED,
    "7.23": Reason.AUTH_FAILURE,
    "7.25": Reason.BLOCKED,
    "7.26": Reason.AUTH_FAILURE,
    "7.27": Reason.SENDER_REJECTED,
    "7.509": Reason.AUTH_FAILURE,
    "7.515": Reason.AUTH_FAILURE,
    "7.606": Reason.BLOCKED,
    "7.650": Reason.RATE_LIMITED,
    "7.28": Reason.RATE_LIMITED,
    "4.5": Reason.RATE_LIMITED,
    "5.3": Reason.RATE_LIMITED,
}
# Codes that name the party so exactly that no wording overrides them.
_DECISIVE = frozenset({"1.7", "1.8", "7.26", "7.509", "7.515"})
# The subject classes (RFC 3463) when nothing more specific is known.
_CLASS_REASONS = {
    "1": Reason.UNDEFINED,
    "2": Reason.UNDEFINED,
    "3": Reason.SYSTEM_ERROR,
    "4": Reason.NETWORK_ERROR,
    "5": Reason.SYSTEM_ERROR,
    "6": Reason.CONTENT_REJECTED,
    "7": Reason.POLICY,
}
_GENERIC_DETAILS = frozenset({"0.0", "5.0", "3.0", "2.0", "1.0", "0.900"})


def read_answer(text: str, status: str | None = None, code: int | None = None) -> Reading:
    """The reason a server gave (``text``: its answer, or a report's diagnostic and notice
    text; ``status``: a report's Status field; ``code``: the reply code, when known).

    The codes in the server's own words come before the report's Status: the reporting
    MTA writes the Status, and one that only had a basic reply code ("550 recipient
    rejected") often makes up a ``5.1.1`` for it, so such a Status is taken only when
    the words say nothing."""
    text = _unfolded(" ".join(text.replace("’", "'").split())[:MAX_WORDS])
    codes = list(dict.fromkeys(m.group(0) for m in ENHANCED.finditer(text)))
    basic = code if code is not None else _basic(text)
    given = ENHANCED.search(status or "")
    made_up = given is not None and not codes and basic is not None
    if given and given.group(0) not in codes:
        codes.append(given.group(0))
    enhanced = _most_specific(codes)
    lowered = text.lower()
    reason, specific = _reason(lowered, [] if made_up else codes, enhanced, basic)
    if made_up and (not specific or reason is Reason.UNDEFINED) and given:
        detail = given.group(0).partition(".")[2]
        if reason in (Reason.UNDEFINED, Reason.SYSTEM_ERROR) and detail in _CODE_REASONS:
            reason, specific = _CODE_REASONS[detail], True
    if _MAIL_FROM_STAGE.search(lowered):  # refused at MAIL FROM: about us, not the recipient
        if reason.address_gone:
            reason, specific = Reason.SENDER_REJECTED, True
        elif reason is Reason.UNDEFINED:
            reason = Reason.POLICY
    temporary = bool(TEMPORARY.search(lowered))
    return Reading(reason, enhanced, basic, temporary, specific)


def _unfolded(text: str) -> str:
    """The answer without the code prefix repeated on each folded line."""
    first = _CODE_PREFIX.search(text)
    if first is None:
        return text
    enhanced = (first.group(2) or "").strip()
    prefix = re.escape(first.group(1)) + r"[ -]" + (re.escape(enhanced) if enhanced else "")
    repeated = re.compile(r" " + prefix + r"[ -]?(?=\S)")
    return text[: first.end()] + repeated.sub(" ", text[first.end() :])


def _basic(text: str) -> int | None:
    found = BASIC.search(text)
    return int(found.group(1)) if found else None


def _most_specific(codes: list[str]) -> str | None:
    """The first code that is not generic (``5.0.0``), else the first one."""
    for candidate in codes:
        if candidate.partition(".")[2] not in _GENERIC_DETAILS:
            return candidate
    return codes[0] if codes else None


def _reason(
    text: str, codes: list[str], enhanced: str | None, basic: int | None
) -> tuple[Reason, bool]:
    """The reason, and whether exact words or a code named it."""
    details = [c.partition(".")[2] for c in codes]
    decisive = next((d for d in details if d in _DECISIVE), None)
    if decisive is not None:
        return _CODE_REASONS[decisive], True
    for pattern, named in SPECIFIC_WORDS:
        if pattern.search(text):
            return _refined(Reason(named), text), True
    detail = enhanced.partition(".")[2] if enhanced and enhanced in codes else ""
    if detail == "4.1" and re.search(r"access denied", text, re.IGNORECASE):
        return Reason.USER_UNKNOWN, True  # Exchange Online's directory-based edge blocking
    if detail in _CODE_REASONS:
        return _CODE_REASONS[detail], True
    if basic == 521:  # RFC 7504: the host does not accept mail at all
        return Reason.HOST_UNKNOWN, True
    for pattern, named in GENERAL_WORDS:
        if pattern.search(text):
            return Reason(named), False
    if detail and detail not in _GENERIC_DETAILS:
        return _CLASS_REASONS.get(detail.partition(".")[0], Reason.UNDEFINED), False
    if basic is not None and 400 <= basic < 500:
        return Reason.SYSTEM_ERROR, False
    return Reason.UNDEFINED, False


def _refined(reason: Reason, text: str) -> Reason:
    """ "User unknown" said about our *sender* address is ours, not the recipient's."""
    if reason is Reason.USER_UNKNOWN and re.search(
        r"\bsender\b[^.;]{0,30}(?:user unknown|unknown user|does not exist)", text, re.IGNORECASE
    ):
        return Reason.SENDER_REJECTED
    return reason
