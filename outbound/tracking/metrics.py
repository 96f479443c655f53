"""Campaign metrics with the denominators of seed 003 (Loxo), computed from the message log.

Every figure counts prospects, not messages or hits. Per step, a prospect
counts for the step's messages (any of its addresses), and the rate divides
by all prospects in the campaign, so a later step's rates are lower while it
is still going out. Per campaign, a prospect counts once if it happened at any
step. Definitions:

* sent: SMTP accepted a message of the step;
* bounced: a message of the step bounced (at once or by a later report);
* delivered: sent, and a message of the step that did not bounce;
* opened / clicked: a pixel or link hit on a message of the step;
* replied: the prospect replied; the reply counts for the last step sent
  before it (for the campaign: any reply);
* opted out: the unsubscribe link of a message of the step was used; for
  the campaign also a prospect stopped as OptedOut by another campaign's link
  or by a complaint;
* complained: the recipient reported a message of the step as spam (an ARF
  report or a provider's feedback loop, matched to the message).

Texts are counted apart, per sms step (``tracking.sms_metrics``): the figures
above are the email ones, except replied and opted out for the campaign, which
count a prospect whatever the channel.

Per mailbox (``mailbox_inbound_metrics``): complaints and bounces that blame
our sending (authentication, sender address, blocklists, reputation, rate),
over the messages the mailbox sent, across all its campaigns: the figures
providers judge a sender by.

Removed prospects (their progress deleted) are not counted anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from outbound.domain.metrics import (
    CampaignMetrics,
    Counts,
    Engagement,
    MailboxInboundMetrics,
    StepMetrics,
)
from outbound.domain.statuses import InboundKind, MessageStatus, ProspectStatus, StepKind
from outbound.mail.reasons import Party, Reason
from outbound.store.sending_mailbox import SENDING_MAILBOX_ID
from outbound.store.tables import (
    Campaign,
    Enrollment,
    InboundEvent,
    Message,
    Step,
    TrackingEvent,
)
from outbound.tracking.sms_metrics import sms_metrics

FIGURES = (
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "replied",
    "opted_out",
    "complained",
)


@dataclass
class _Tally:
    who: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def counts(self, prospects: int) -> dict[str, object]:
        sizes = {name: len(self.who[name]) for name in FIGURES}
        rates = {name: round(n / prospects, 4) if prospects else 0.0 for name, n in sizes.items()}
        return {**sizes, "rates": rates}


def campaign_metrics(session: Session, campaign_id: int) -> CampaignMetrics:
    """Counts and rates per email step and sms step, and for the whole campaign."""
    enrollments = {
        e.id: e
        for e in session.exec(
            select(Enrollment).where(
                Enrollment.campaign_id == campaign_id,
                Enrollment.status != ProspectStatus.REMOVED.value,
            )
        )
        if e.id is not None
    }
    messages = list(
        session.exec(select(Message).where(col(Message.enrollment_id).in_(list(enrollments))))
    )
    hits = _hits(session, [m.id for m in messages if m.id is not None])
    kinds = {
        s.position: s.kind
        for s in session.exec(
            select(Step).where(Step.campaign_id == campaign_id).order_by(col(Step.position))
        )
    }
    positions = [position for position, kind in kinds.items() if kind == StepKind.EMAIL]
    per_step = {position: _Tally() for position in positions}
    overall = _Tally()
    sent_times: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for message in messages:
        if message.channel == "sms":  # counted by sms_metrics; its time may answer a reply
            if message.sent_at is not None:
                sent_times[message.enrollment_id].append((message.sent_at, message.position))
            continue
        tally = per_step.setdefault(message.position, _Tally())
        who = message.enrollment_id
        marks = []
        if message.sent_at is not None:
            marks.append("sent")
            sent_times[who].append((message.sent_at, message.position))
            if message.status != MessageStatus.BOUNCED:
                marks.append("delivered")
        if message.status == MessageStatus.BOUNCED:
            marks.append("bounced")
        marks += [_FIGURE_OF[kind] for kind in hits.get(message.id or 0, {})]
        for mark in marks:
            tally.who[mark].add(who)
            overall.who[mark].add(who)
    answers: dict[int, int] = {}
    for enrollment_id, enrollment in enrollments.items():
        if enrollment.status == ProspectStatus.OPTED_OUT:
            overall.who["opted_out"].add(enrollment_id)
        if enrollment.replied_at is None:
            continue
        overall.who["replied"].add(enrollment_id)
        position = replied_to(sent_times.get(enrollment_id, []), enrollment.replied_at)
        if position is None:
            continue
        answers[enrollment_id] = position
        if kinds.get(position) != StepKind.SMS:
            per_step.setdefault(position, _Tally()).who["replied"].add(enrollment_id)
    total = len(enrollments)
    sms, sms_steps = sms_metrics(
        messages, [p for p, kind in kinds.items() if kind == StepKind.SMS], answers, total
    )
    return CampaignMetrics(
        campaign_id=campaign_id,
        prospects=total,
        campaign=Counts.model_validate(overall.counts(total)),
        steps=[
            StepMetrics.model_validate({"position": position, **tally.counts(total)})
            for position, tally in sorted(per_step.items())
        ],
        sms=sms,
        sms_steps=sms_steps,
    )


_FIGURE_OF = {
    "open": "opened",
    "click": "clicked",
    "unsubscribe": "opted_out",
    "complaint": "complained",
}


def _hits(session: Session, message_row_ids: list[int]) -> dict[int, set[str]]:
    """Which kinds of hit each message had."""
    found: dict[int, set[str]] = defaultdict(set)
    if not message_row_ids:
        return found
    rows = session.exec(
        select(TrackingEvent.message_row_id, TrackingEvent.kind)
        .where(col(TrackingEvent.message_row_id).in_(message_row_ids))
        .distinct()
    )
    for message_row_id, kind in rows:
        found[message_row_id].add(kind)
    return found


def replied_to(sent: list[tuple[datetime, int]], replied_at: datetime) -> int | None:
    """The step a reply answers: the last one sent before it (else the last one sent).

    To the second: a reply's time comes from its Date header, which has no fractions.
    """
    if not sent:
        return None
    before = [item for item in sent if item[0].replace(microsecond=0) <= replied_at]
    return max(before or sent)[1]


def engagement_of(session: Session, enrollment: Enrollment) -> Engagement:
    """When and how often one prospect opened and clicked; when they replied or opted out."""
    rows = session.exec(
        select(TrackingEvent.kind, TrackingEvent.at)
        .join(Message, col(Message.id) == TrackingEvent.message_row_id)
        .where(Message.enrollment_id == enrollment.id)
        .order_by(col(TrackingEvent.at))
    ).all()
    opens = [at for kind, at in rows if kind == "open"]
    clicks = [at for kind, at in rows if kind == "click"]
    opt_outs = [at for kind, at in rows if kind in ("unsubscribe", "complaint")]
    complaints = [at for kind, at in rows if kind == "complaint"]
    return Engagement(
        opens=len(opens),
        first_opened_at=opens[0] if opens else None,
        last_opened_at=opens[-1] if opens else None,
        clicks=len(clicks),
        last_clicked_at=clicks[-1] if clicks else None,
        replied_at=enrollment.replied_at,
        opted_out_at=opt_outs[0] if opt_outs else None,
        complained_at=complaints[0] if complaints else None,
    )


def mailbox_inbound_metrics(session: Session, mailbox_id: int) -> MailboxInboundMetrics:
    """Complaints and sender-side bounces of one mailbox, over what it sent."""
    sent = session.exec(
        select(func.count())
        .select_from(Message)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(
            mailbox_id == SENDING_MAILBOX_ID,
            col(Message.sent_at).is_not(None),
            Message.channel == "email",
        )
    ).one()
    complaints = session.exec(
        select(func.count(func.distinct(TrackingEvent.message_row_id)))
        .join(Message, col(Message.id) == TrackingEvent.message_row_id)
        .join(Enrollment, col(Enrollment.id) == Message.enrollment_id)
        .join(Campaign, col(Campaign.id) == Enrollment.campaign_id)
        .where(mailbox_id == SENDING_MAILBOX_ID, TrackingEvent.kind == "complaint")
    ).one()
    sender_side = session.exec(
        select(func.count())
        .select_from(InboundEvent)
        .where(
            InboundEvent.mailbox_id == mailbox_id,
            InboundEvent.kind == InboundKind.BOUNCE.value,
            col(InboundEvent.reason).in_([r.value for r in Reason if r.party is Party.SENDER]),
        )
    ).one()
    return MailboxInboundMetrics(
        mailbox_id=mailbox_id,
        sent=sent,
        complaints=complaints,
        sender_side_bounces=sender_side,
        complaint_rate=round(complaints / sent, 5) if sent else 0.0,
    )
