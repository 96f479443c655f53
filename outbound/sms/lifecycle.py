"""The order of an SMS message's statuses, so that reports apply in any order, twice.

Providers report a message's progress by callbacks that may come late, out of
order, or more than once; the workflow also decides a status itself when a report
is missing (``Timed Out``, ``AssumedDelivered``). A status *advances* a message
only if it is further along:

1. ``Queued`` (holding a slot) < ``Sending`` (handed over) < ``Sent`` (the carrier took it);
2. our own guesses, ``AssumedDelivered`` and ``Failed`` with reason ``Timed Out``;
3. the provider's final word: ``Delivered``, ``Failed`` (its reason) or ``OptedOut``.

A final report replaces a guess (a ``delivered`` after ``AssumedDelivered`` is the
truth), nothing replaces a final report (a late ``sent`` never undoes ``delivered``),
and a status never moves back.
"""

from __future__ import annotations

from outbound.domain.statuses import MessageStatus

TIMED_OUT = "Timed Out"
"""The reason of a message ``Sending`` for 10 minutes without a ``sent`` report."""

_PROVIDER_STATUSES = {
    "accepted": MessageStatus.SENDING,
    "scheduled": MessageStatus.SENDING,
    "queued": MessageStatus.SENDING,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}
_GUESS = 3
_FINAL = 4
_RANKS = {
    MessageStatus.WAITING: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.CANCELED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.ASSUMED_DELIVERED: _GUESS,
    MessageStatus.DELIVERED: _FINAL,
    MessageStatus.FAILED: _FINAL,
    MessageStatus.OPTED_OUT: _FINAL,
}


def from_provider(status: str) -> MessageStatus | None:
    """Our status for a provider's (Twilio's names); None for one we do not track."""
    return _PROVIDER_STATUSES.get(status.strip().lower())


def rank(status: MessageStatus | str, reason: str | None = None) -> int:
    """How far along a message with ``status`` (and ``reason``, for Failed) is."""
    status = MessageStatus(status)
    if status is MessageStatus.FAILED and reason == TIMED_OUT:
        return _GUESS
    return _RANKS.get(status, 0)


def advances(
    current: MessageStatus | str,
    current_reason: str | None,
    new: MessageStatus | str,
    new_reason: str | None = None,
) -> bool:
    """Whether ``new`` (with ``new_reason``) should replace ``current``."""
    return rank(new, new_reason) > rank(current, current_reason)


def is_final(status: MessageStatus | str, reason: str | None = None) -> bool:
    """The provider's final word (or our guess of it): nothing more is awaited."""
    return rank(status, reason) >= _GUESS
