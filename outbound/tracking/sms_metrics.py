"""SMS figures of a campaign, per sms step and for the campaign, counted in prospects like
the email figures (``tracking.metrics``), from the SMS rows of the message log.

Definitions, for a prospect and an sms step:

* sent: the provider took the text (it reached ``Sent``; ``sent_at`` is set);
* delivered: ``Delivered``, or ``AssumedDelivered`` (no final report came);
* failed: ``Failed`` (the provider's reason, or ``Timed Out``);
* opted out: ``OptedOut`` (STOP, or the provider said the number opted out);
* replied: the prospect replied, and the last message sent before the reply
  (of either channel) was this step's text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from outbound.domain.metrics import SmsCounts, SmsStepMetrics
from outbound.domain.statuses import MessageStatus
from outbound.store.tables import Message

SMS_FIGURES = ("sent", "delivered", "failed", "opted_out", "replied")
_MARKS = {
    MessageStatus.DELIVERED.value: "delivered",
    MessageStatus.ASSUMED_DELIVERED.value: "delivered",
    MessageStatus.FAILED.value: "failed",
    MessageStatus.OPTED_OUT.value: "opted_out",
}

Who = dict[str, set[int]]


def sms_metrics(
    messages: Iterable[Message],
    positions: Iterable[int],
    replied_to: Mapping[int, int],
    prospects: int,
) -> tuple[SmsCounts, list[SmsStepMetrics]]:
    """The campaign's SMS figures and each sms step's (``positions``); ``replied_to``: the
    step each replying enrollment's reply answers."""
    per_step: dict[int, Who] = {position: defaultdict(set) for position in positions}
    overall: Who = defaultdict(set)
    for message in messages:
        if message.channel != "sms":
            continue
        who = per_step.setdefault(message.position, defaultdict(set))
        marks = ["sent"] if message.sent_at is not None else []
        if message.status in _MARKS:
            marks.append(_MARKS[message.status])
        for mark in marks:
            who[mark].add(message.enrollment_id)
            overall[mark].add(message.enrollment_id)
    for enrollment_id, position in replied_to.items():
        if position in per_step:
            per_step[position]["replied"].add(enrollment_id)
            overall["replied"].add(enrollment_id)
    return SmsCounts.model_validate(_counts(overall, prospects)), [
        SmsStepMetrics.model_validate({"position": position, **_counts(who, prospects)})
        for position, who in sorted(per_step.items())
    ]


def _counts(who: Who, prospects: int) -> dict[str, object]:
    sizes = {name: len(who[name]) for name in SMS_FIGURES}
    rates = {name: round(n / prospects, 4) if prospects else 0.0 for name, n in sizes.items()}
    return {**sizes, "rates": rates}
