"""Whether a message was written by a mail system rather than a person.

A notice from a mail system is never a person's reply, even when it cannot be
understood: taking one for a reply ends a live sequence and counts a reply
nobody wrote. These signals say "a machine wrote this"; the classifier tries
to understand such a message (as a bounce, a delay, a complaint) and, when it
cannot, records it as an unrecognised notice for a person to look at.

Strong signals (a bounce or report is expected): a daemon sender
(MAILER-DAEMON, postmaster, "Mail Delivery System" …), a failure or delay
subject in one of many languages, Exim's ``X-Failed-Recipients``, a report
MIME type. Weak signals (some machine, not necessarily about delivery): a
no-reply sender, a challenge-response system's headers (Bluebottle, Boxbe, …),
a provider's notification format.
"""

from __future__ import annotations

import re
from email.message import Message

from outbound.inbound.headers import header

_DAEMON_LOCAL = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|post_master|mdaemon|bounces?"
    r"|mail\.delivery\.system|microsoftexchange[0-9a-f]{32})$",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(
    r"mail ?delivery (?:sub)?system|mail delivery service|mailer[- ]daemon|postmaster"
    r"|mail administrator|internet mail delivery|ndr administrator|mail deliver system"
    r"|e-?mail interconnect|delivery status notification",
    re.IGNORECASE,
)
# "noreply", "no-reply", "no_reply", "no.reply", "do-not-reply", "do_not_reply" …
_NOREPLY_LOCAL = re.compile(
    r"(?:^|[-_.])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply)(?:$|[-_.])", re.IGNORECASE
)
# Mailing-list servers answer from their admin addresses (fml, Majordomo, Mailman).
_LIST_ADMIN_LOCAL = re.compile(r"(?:-admin|-owner|-request|-bounces|-ctl)$|^owner-", re.I)
# A body that opens by saying a message was not delivered (a notice without the headers).
_FAILURE_OPENING = re.compile(
    r"your message (?:could not|cannot|was not|wasn't) (?:be )?delivered"
    r"|n'a pas pu (?:être|etre) d[ée]livr[ée]|konnte nicht zugestellt werden"
    r"|no (?:pudo|ha podido) ser entregado|non (?:è|e) stato possibile recapitare",
    re.IGNORECASE,
)
# Bounce and delay subjects, anchored at the start ("Re: Undeliverable: …" is a person).
FAILURE_SUBJECT = re.compile(
    r"^\s*(?:\*\*\s*)?(?:\[postmaster\]\s*)?(?:"
    r"undeliver|undelivered|delivery status notification|mail delivery (?:failed|failure"
    r"|problem|delayed|status)|failure notice|failure delivery|failed delivery|returned mail"
    r"|delivery (?:failure|failed|report|notification|has failed|delayed|status)"
    r"|mail system error|non[- ]?delivery|message (?:not delivered|delivery has failed"
    r"|you sent blocked|status - undeliverable|delayed)|nondeliverable|could not send message"
    r"|unzustellbar|nicht zustellbar|non remis|non recapitabile|no se puede entregar"
    r"|no entregado|niet bezorgd|onbestelbaar|não entregue|nao entregue|недоставленное"
    r"|ваше сообщение не доставлено|не доставлено|未送達|配信できません|送信できません"
    r"|无法投递|退信|delayed mail|warning: (?:message|could not send)|mail delivery warning"
    r"|warning--could not send|permanent delivery failure|mail could not be delivered"
    r"|mail error|processing error|returned mail|failed mail|mail failed|mail failure"
    r"|delivery notification|sorry, your message could not be delivered|there was an error"
    r" sending your mail|your message to .* could not be delivered|message delivery"
    r"|undeliverable mail|email delivery failure|mail delivery failure|postmaster notify)",
    re.IGNORECASE,
)
_REPORT_TYPES = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "message/disposition-notification",
    }
)
# Challenge-response systems ask the sender to confirm; their mail is no answer.
_CHALLENGE_HEADERS = (
    "X-Bluebottle-Request",
    "X-Boxbe-Notice",
    "X-Boxbe-Status",
    "X-Spamarrest-Noauth",
    "X-Spam-Arrest",
    "X-MailCleaner-Challenge",
)
_CHALLENGE_TEXT = re.compile(r"X-Boxbe|X-Bluebottle|X-Spamarrest", re.IGNORECASE)


def strong_signals(message: Message, sender: str | None, subject: str) -> list[str]:
    """What says a mail system wrote this about a delivery (empty: nothing does)."""
    found: list[str] = []
    if "X-Failed-Recipients" in message:
        found.append("X-Failed-Recipients")
    local = (sender or "").rpartition("@")[0]
    if _DAEMON_LOCAL.match(local) or _DAEMON_NAME.search(header(message, "From")):
        found.append("a mail-system sender")
    elif not sender and re.search(r"<>", header(message, "From")):
        found.append("a null sender")
    if FAILURE_SUBJECT.match(subject):
        found.append("a delivery-failure subject")
    if any(part.get_content_type() in _REPORT_TYPES for part in _top_parts(message)):
        found.append("a report MIME part")
    if not found and _opens_with_failure(message):
        found.append("a text that opens with a delivery failure")
    return found


def _opens_with_failure(message: Message) -> bool:
    """The first lines of the first text part say a message was not delivered."""
    for part in _top_parts(message):
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            text = payload[:2000].decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            lines = [ln for ln in text.splitlines() if any(c.isalnum() for c in ln)][:3]
            return bool(_FAILURE_OPENING.search(" ".join(lines)))
    return False


def weak_signals(message: Message, sender: str | None) -> list[str]:
    """What says some machine wrote this (a no-reply sender, a challenge-response system)."""
    found: list[str] = []
    local = (sender or "").rpartition("@")[0]
    if _NOREPLY_LOCAL.search(local):
        found.append("a no-reply sender")
    if _LIST_ADMIN_LOCAL.search(local):
        found.append("a mailing-list server's address")
    if is_challenge(message):
        found.append("a challenge-response system")
    return found


def is_challenge(message: Message) -> bool:
    """A challenge-response system asking the sender to confirm (Bluebottle, Boxbe, …),
    by its headers or the diagnostic type of its report."""
    if any(name in message for name in _CHALLENGE_HEADERS) or any(
        _CHALLENGE_TEXT.match(name) for name in message
    ):
        return True
    for part in _top_parts(message):
        if part.get_content_type() not in _REPORT_TYPES:
            continue
        payload = part.get_payload()
        blocks = payload[:25] if isinstance(payload, list) else []
        for block in blocks:
            if isinstance(block, Message) and any(
                _CHALLENGE_TEXT.search(str(value)[:200]) for value in block.values()
            ):
                return True
        if isinstance(payload, str) and _CHALLENGE_TEXT.search(payload[:20000]):
            return True
    return False


def is_daemon(address: str) -> bool:
    """Whether an address is a mail system's own (never a failed recipient)."""
    return _DAEMON_LOCAL.match(address.rpartition("@")[0]) is not None


def _top_parts(message: Message) -> list[Message]:
    """The message and its parts two levels down: where a report's parts are."""
    parts = [message]
    for part in _children(message):
        parts.append(part)
        parts.extend(_children(part))
    return parts


def _children(part: Message) -> list[Message]:
    if not part.is_multipart():
        return []
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
