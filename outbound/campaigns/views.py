"""Assemble the read models of campaigns and enrollments from the store."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from outbound.campaigns.steps import step_public
from outbound.domain.campaigns import CampaignPublic
from outbound.domain.company_rules import CompanyRule
from outbound.domain.schedule import TimeZoneSource, Weekday
from outbound.domain.statuses import (
    AddressType,
    CampaignStatus,
    InboundKind,
    MessageStatus,
    ProspectStatus,
    StepStatus,
)
from outbound.domain.views import (
    EnrollmentDetail,
    EnrollmentSummary,
    InboundLogEntry,
    MessageLogEntry,
    StepProgress,
)
from outbound.scheduling.when_to_send import WhenToSend
from outbound.store.prospects import phones_of, phones_public
from outbound.store.tables import (
    Campaign,
    Enrollment,
    EnrollmentStep,
    InboundEvent,
    Message,
    Prospect,
    SmsSender,
    Step,
    User,
)
from outbound.tracking.metrics import engagement_of

_DAY_NAMES = [day.value for day in Weekday]


def user_label(user: User | None) -> str:
    """How a user is named to others: their email, else their name."""
    if user is None:
        return "(removed user)"
    return user.email or user.name


def campaign_public(session: Session, campaign: Campaign) -> CampaignPublic:
    """A campaign with its steps."""
    assert campaign.id is not None
    steps = session.exec(
        select(Step).where(Step.campaign_id == campaign.id).order_by(col(Step.position))
    )
    return CampaignPublic(
        id=campaign.id,
        name=campaign.name,
        owner_user_id=campaign.owner_user_id,
        owner=user_label(session.get(User, campaign.owner_user_id)),
        mailbox_id=campaign.mailbox_id,
        mailbox_pool=campaign.mailbox_pool,
        sms_sender_id=campaign.sms_sender_id,
        sms_sender=_sender_label(session.get(SmsSender, campaign.sms_sender_id))
        if campaign.sms_sender_id is not None
        else None,
        status=CampaignStatus(campaign.status),
        grace_seconds=campaign.grace_seconds,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        consent_accepted_by=campaign.consent_accepted_by,
        send_days=[Weekday(_DAY_NAMES[d]) for d in campaign.send_days]
        if campaign.send_days
        else None,
        send_start=campaign.send_start,
        send_end=campaign.send_end,
        address_preference=(
            AddressType(campaign.address_preference) if campaign.address_preference else None
        ),
        only_preferred_type=campaign.only_preferred_type,
        time_zone_source=TimeZoneSource(campaign.time_zone_source),
        when_to_send=WhenToSend(campaign.when_to_send),
        specific_time=campaign.specific_time,
        track_opens=campaign.track_opens,
        track_clicks=campaign.track_clicks,
        holiday_calendar=campaign.holiday_calendar,
        blackout_dates=[date.fromisoformat(d) for d in campaign.blackout_dates],
        company_rule=CompanyRule(campaign.company_rule or CompanyRule.OFF),
        one_per_company=campaign.one_per_company,
        steps=[step_public(s) for s in steps],
        needs_attention=needs_attention(session, campaign.id),
    )


def _sender_label(sender: SmsSender | None) -> str | None:
    """An SMS sender as a campaign shows it: its name and where texts come from."""
    if sender is None:
        return None
    return f"{sender.name} ({sender.from_number or sender.messaging_service_sid})"


def needs_attention(session: Session, campaign_id: int) -> int:
    """Prospects whose Failed step waits for the user's Retry."""
    return session.exec(
        select(func.count()).where(
            Enrollment.campaign_id == campaign_id,
            Enrollment.status == ProspectStatus.FAILED.value,
            col(Enrollment.awaiting_retry),
        )
    ).one()


def enrollment_summaries(
    session: Session,
    campaign_id: int,
    *,
    status: ProspectStatus | None,
    offset: int,
    limit: int,
) -> list[EnrollmentSummary]:
    """One page of the campaign's prospects, each with its step statuses."""
    query = select(Enrollment, Prospect).join(Prospect).where(Enrollment.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Enrollment.status == status.value)
    rows = list(session.exec(query.order_by(col(Enrollment.id)).offset(offset).limit(limit)))
    step_count = len(list(session.exec(select(Step.id).where(Step.campaign_id == campaign_id))))
    progress = _step_progress(session, [e.id for e, _ in rows if e.id is not None])
    return [_summary(e, p, progress.get(e.id or 0, {}), step_count) for e, p in rows]


def enrollment_detail(session: Session, enrollment: Enrollment) -> EnrollmentDetail:
    """One enrollment with its message log."""
    assert enrollment.id is not None
    prospect = session.get_one(Prospect, enrollment.prospect_id)
    step_count = len(
        list(session.exec(select(Step.id).where(Step.campaign_id == enrollment.campaign_id)))
    )
    progress = _step_progress(session, [enrollment.id]).get(enrollment.id, {})
    messages = session.exec(
        select(Message)
        .where(Message.enrollment_id == enrollment.id)
        .order_by(col(Message.position))
    )
    summary = _summary(enrollment, prospect, progress, step_count)
    return EnrollmentDetail(
        **summary.model_dump(),
        campaign_id=enrollment.campaign_id,
        phones=phones_public(phones_of(session, [enrollment.prospect_id])[enrollment.prospect_id]),
        replied_at=enrollment.replied_at,
        reply_snippet=enrollment.reply_snippet,
        engagement=engagement_of(session, enrollment),
        messages=[
            MessageLogEntry(
                channel="sms" if m.channel == "sms" else "email",
                position=m.position,
                to_address=m.to_address,
                subject=m.subject,
                status=MessageStatus(m.status),
                message_id=m.message_id,
                envelope_from=m.envelope_from,
                scheduled_at=m.scheduled_at,
                sent_at=m.sent_at,
                attempts=m.attempts,
                failure_reason=m.failure_reason,
            )
            for m in messages
        ],
        inbound=_inbound_log(session, enrollment.id),
    )


def _inbound_log(session: Session, enrollment_id: int) -> list[InboundLogEntry]:
    """The inbound mail matched to one enrollment, oldest first (at most the last 100)."""
    rows = session.exec(
        select(InboundEvent, col(InboundEvent.raw).is_not(None))
        .options(defer(InboundEvent.raw))  # type: ignore[arg-type]
        .where(InboundEvent.enrollment_id == enrollment_id)
        .order_by(col(InboundEvent.received_at).desc(), col(InboundEvent.id).desc())
        .limit(100)
    ).all()
    return [
        InboundLogEntry(
            event_id=event.id or 0,
            received_at=event.received_at,
            source=event.source,
            kind=InboundKind(event.kind),
            why=event.why,
            reason=event.reason,
            action=event.action,
            sender=event.sender,
            subject=event.subject,
            raw_kept=bool(kept),
        )
        for event, kept in reversed(rows)
    ]


def _step_progress(
    session: Session, enrollment_ids: list[int]
) -> dict[int, dict[int, EnrollmentStep]]:
    by_enrollment: dict[int, dict[int, EnrollmentStep]] = defaultdict(dict)
    if enrollment_ids:
        rows = session.exec(
            select(EnrollmentStep).where(col(EnrollmentStep.enrollment_id).in_(enrollment_ids))
        )
        for row in rows:
            by_enrollment[row.enrollment_id][row.position] = row
    return by_enrollment


def _summary(
    enrollment: Enrollment, prospect: Prospect, steps: dict[int, EnrollmentStep], step_count: int
) -> EnrollmentSummary:
    """Steps the workflow has not reported yet show Pending (campaign not started); a
    removed prospect has no step progress left."""
    assert enrollment.id is not None
    return EnrollmentSummary(
        prospect_id=enrollment.prospect_id,
        name=" ".join(part for part in (prospect.first_name, prospect.last_name) if part),
        email=enrollment.to_address,
        status=ProspectStatus(enrollment.status),
        reason=enrollment.reason,
        current_step=enrollment.current_step,
        workflow_id=enrollment.workflow_id,
        mailbox_id=enrollment.mailbox_id,
        steps=[
            StepProgress(
                position=position,
                status=StepStatus(row.status)
                if (row := steps.get(position))
                else StepStatus.PENDING,
                scheduled_at=row.scheduled_at if row else None,
                sent_at=row.sent_at if row else None,
                reason=row.reason if row else None,
            )
            for position in range(1, step_count + 1)
        ]
        if enrollment.status != ProspectStatus.REMOVED  # remove deletes the step progress
        else [],
    )
