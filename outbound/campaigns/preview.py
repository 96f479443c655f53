"""Load what a schedule forecast needs from the store and run it (see scheduling.forecast)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.campaigns.start import schedule_for
from outbound.campaigns.steps import step_plans
from outbound.domain.problems import not_found
from outbound.domain.schedule import parse_clock
from outbound.domain.statuses import StepKind
from outbound.domain.views import ProspectForecast, SchedulePreview, StepForecast
from outbound.scheduling.forecast import ProspectPlan, describe, forecast, summarize
from outbound.scheduling.slots import MailboxCalendar
from outbound.scheduling.when_to_send import WhenToSend
from outbound.scheduling.windows import local_date, local_datetime
from outbound.store.slots import mailbox_limits, taken_slots
from outbound.store.tables import Campaign, Enrollment, Mailbox, Prospect, Step

_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def schedule_preview(
    engine: Engine, campaign_id: int, start_at: datetime, shown: int
) -> SchedulePreview:
    """Forecast the campaign's not-yet-started prospects against the mailbox's reservations."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        mailbox = session.get_one(Mailbox, campaign.mailbox_id)
        stored = list(session.exec(select(Step).where(Step.campaign_id == campaign_id)))
        steps = [s for s in step_plans(stored) if not s.skipped]
        people = list(
            session.exec(
                select(Prospect)
                .join(Enrollment)
                .where(Enrollment.campaign_id == campaign_id, col(Enrollment.workflow_id).is_(None))
                .order_by(col(Enrollment.id))
            )
        )
        limits = mailbox_limits(mailbox)
        day_start = local_datetime(
            local_date(start_at, limits.zone_name), time(0), limits.zone_name
        )
        taken = taken_slots(session, mailbox.id or 0, day_start - limits.spacing, _END_OF_TIME)
        plans = [
            ProspectPlan(p.id or 0, schedule_for(campaign, mailbox, p).window.to_window())
            for p in people
        ]
        when_to_send = WhenToSend(campaign.when_to_send)
        specific_time = parse_clock(campaign.specific_time) if campaign.specific_time else None
    planned = forecast(
        MailboxCalendar.of(limits, taken),
        plans,
        [s.delay for s in steps],
        start_at,
        timedelta(seconds=campaign.grace_seconds),
        when_to_send,
        specific_time,
        manual_tasks=frozenset(i for i, s in enumerate(steps) if s.kind is StepKind.MANUAL_TASK),
    )
    summaries = summarize(planned, limits.zone_name, len(steps))
    return SchedulePreview(
        campaign_id=campaign_id,
        start_at=start_at,
        summary=describe(summaries, len(people), limits.zone_name)
        if people
        else "no prospects to schedule",
        steps=[
            StepForecast(
                position=s.position,
                first_send=s.first,
                last_send=s.last,
                busiest_day_sends=s.busiest_day,
            )
            for s in summaries
        ],
        total_prospects=len(people),
        prospects=[
            ProspectForecast(prospect_id=pid, sends=sends)
            for pid, sends in list(planned.items())[:shown]
        ],
    )
