"""What an SMTP answer means for Outbound: the one place that classifies send outcomes.

The reply code says how permanent a failure is (RFC 5321 §4.2.1); the enhanced
status code (RFC 3463, e.g. ``5.1.1``) says what failed; provider texts fill
the gaps (Gmail answers rate limits with 5.4.5, Outlook with 4.7.500 texts).
What failed is read by ``outbound.mail.reasons``, the table of reasons that bounce
reports use too, so an address is judged gone by the same rules however the
refusal reaches us. Order matters: the specific classes (authentication, rate limits, our own
sender policy, bounces, mailbox full, spam) are tested before the generic
4xx/5xx fallbacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import aiosmtplib

from outbound.mail.reasons import ENHANCED, Reading, Reason, read_answer


class Outcome(StrEnum):
    """What to do after a send attempt."""

    SENT = "sent"
    TRANSIENT = "transient"  # retry with backoff; counts as an attempt
    RATE_LIMITED = "rate_limited"  # defer to the next slot/day; not a failed attempt
    AUTH_FAILED = "auth_failed"  # the mailbox needs re-authentication; sequences wait
    SENDER_POLICY = "sender_policy"  # our SPF/DKIM/DMARC or relay setup: park the mailbox
    HARD_BOUNCE = "hard_bounce"  # this address is bad: next address, else Bounced
    MAILBOX_FULL = "mailbox_full"  # soft bounce: retry over days, then treat as bounced
    SPAM = "spam"  # the message was refused as spam / for its content
    FAILED = "failed"  # permanent, not about the address: the step fails with the reason
    UNKNOWN = (
        "unknown"  # lost after the final "." (RFC 1047): maybe delivered; never resend blindly
    )


class Stage(StrEnum):
    """Where in the SMTP dialogue the answer came."""

    CONNECT = "connect"
    AUTH = "auth"
    ENVELOPE = "envelope"  # MAIL FROM / RCPT TO
    DATA = "data"  # the DATA command and the text up to the final "."
    AFTER_DATA = "after_data"  # waiting for the answer to the final "."


@dataclass(frozen=True)
class Classified:
    """An outcome with the evidence a user sees in the message log."""

    outcome: Outcome
    code: int | None
    enhanced: str | None
    reason: str
    cause: Reason = Reason.UNDEFINED

    @property
    def suppresses_address(self) -> bool:
        """Only hard bounces put the address on the suppression list."""
        return self.outcome is Outcome.HARD_BOUNCE

    @property
    def is_daily_quota(self) -> bool:
        """A rate limit that lasts the day (Gmail's 550 5.4.5), not a brief throttle."""
        return self.outcome is Outcome.RATE_LIMITED and (
            (self.code or 0) >= 500 or bool(_DAILY_TEXT.search(self.reason))
        )


_RATE_TEXT = re.compile(
    r"rate limit|too many (messages|connections|recipients)|sending (quota|limit)"
    r"|daily (user )?sending|temporarily deferred|unexpected volume"
    r"|server busy|exceeded.*(limit|quota)",
    re.IGNORECASE,
)
_DAILY_TEXT = re.compile(r"daily|per day|24 ?h", re.IGNORECASE)
# Our side: the mailbox is parked until the user fixes it (SPF/DKIM/DMARC, the sender
# address, relaying through a server that will not relay for us).
_SENDER_POLICY = frozenset({Reason.AUTH_FAILURE, Reason.SENDER_REJECTED, Reason.RELAY_DENIED})
# Refused for the message or our reputation: the step fails (Spam) and waits for a Retry.
_REFUSED = frozenset({Reason.SPAM_DETECTED, Reason.BLOCKED, Reason.POLICY, Reason.CONTENT_REJECTED})


def classify(code: int | None, text: str, stage: Stage) -> Classified:
    """Classify one SMTP answer (``code`` None: no answer, the connection failed)."""
    text = " ".join(text.split())
    failed = code is not None and not 200 <= code < 300  # a success has nothing to read
    reading = read_answer(text, code=code) if failed else None
    found = ENHANCED.search(text)
    enhanced = found.group(0) if found else None
    outcome = _outcome(code, enhanced, text, stage, reading)
    cause = (
        reading.reason
        if reading is not None
        else (Reason.NETWORK_ERROR if code is None else Reason.UNDEFINED)  # no answer; success
    )

    return Classified(outcome, code, enhanced, _reason(code, enhanced, text, stage), cause)


def classify_exception(error: BaseException, stage: Stage) -> Classified:
    """Classify what aiosmtplib raised at ``stage``."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        first = error.recipients[0]
        return classify(first.code, first.message, Stage.ENVELOPE)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return classify(error.code, error.message, Stage.AUTH)
    if isinstance(error, aiosmtplib.SMTPResponseException) and error.code >= 0:
        return classify(error.code, error.message, stage)
    return classify(None, f"{type(error).__name__}: {error}", stage)


def _outcome(
    code: int | None, enhanced: str | None, text: str, stage: Stage, reading: Reading | None
) -> Outcome:
    if code is not None and 200 <= code < 300:
        return Outcome.SENT
    if code is None or reading is None:
        return Outcome.UNKNOWN if stage is Stage.AFTER_DATA else Outcome.TRANSIENT
    subject_detail = enhanced[2:] if enhanced else ""
    if (
        code in (534, 535)
        or (stage is Stage.AUTH and code >= 500)
        or (code == 530 and subject_detail == "7.0")
    ):
        return Outcome.AUTH_FAILED
    reason = reading.reason
    if reason in _SENDER_POLICY or subject_detail == "7.25":
        return Outcome.SENDER_POLICY
    if subject_detail in ("4.5", "5.3") or (
        code in (421, 450, 451, 452) and subject_detail.startswith("7.")
    ):
        return Outcome.RATE_LIMITED
    if reason is Reason.RATE_LIMITED or (
        _RATE_TEXT.search(text) and (code < 500 or subject_detail.startswith("4."))
    ):
        return Outcome.RATE_LIMITED
    if reason.address_gone:
        return (
            Outcome.HARD_BOUNCE
            if reading.address_gone(final=code >= 500)
            else (Outcome.TRANSIENT if code < 500 else Outcome.FAILED)
        )
    if reason is Reason.MAILBOX_FULL:
        return Outcome.MAILBOX_FULL
    if code >= 500 and reason in _REFUSED:
        return Outcome.SPAM
    if 400 <= code < 500:
        return Outcome.TRANSIENT
    return Outcome.FAILED


def _reason(code: int | None, enhanced: str | None, text: str, stage: Stage) -> str:
    prefix = (
        f"{code} {enhanced} "
        if code and enhanced and enhanced not in text
        else (f"{code} " if code else "")
    )
    return f"{prefix}{text}"[:500] if text else f"{prefix}no answer ({stage})".strip()


def reported_outcome(reason: Reason, hard: bool) -> Outcome:
    """What a bounce report about a message already sent means, in the terms of an SMTP
    answer, by the same table: a dead address is a hard bounce; our authentication, sender
    address or relaying park the mailbox; a rate limit throttles it; the rest is recorded."""
    if hard:
        return Outcome.HARD_BOUNCE
    if reason in _SENDER_POLICY:
        return Outcome.SENDER_POLICY
    if reason is Reason.RATE_LIMITED:
        return Outcome.RATE_LIMITED
    if reason is Reason.MAILBOX_FULL:
        return Outcome.MAILBOX_FULL
    if reason in _REFUSED:
        return Outcome.SPAM
    return Outcome.FAILED
