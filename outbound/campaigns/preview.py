"""Load what a schedule forecast needs from the store and run it (see scheduling.forecast).

The forecast replays every prospect's requests through the mailbox calendar the
workflows' slot reservations use (``MailboxCalendar``), so a 20,000-prospect
campaign is 40,000 cheap calendar requests for two steps: a few seconds in all,
most of it reading the prospects. Prospects share windows: one is built per
time zone, with the same ``schedule_for`` that Start gives each workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.campaigns.start import schedule_for
from outbound.campaigns.steps import step_plans
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.schedule import parse_clock
from outbound.domain.statuses import StepKind
from outbound.domain.views import ProspectForecast, SchedulePreview, StepForecast
from outbound.scheduling.forecast import ProspectPlan, describe, forecast, summarize
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.when_to_send import WhenToSend
from outbound.scheduling.windows import SendWindow, local_date, local_datetime
from outbound.store.slots import mailbox_limits, taken_slots
from outbound.store.tables import Campaign, Enrollment, Mailbox, Prospect, Step

_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)

CalendarFactory = Callable[[MailboxLimits, Iterable[datetime]], MailboxCalendar]


@dataclass(frozen=True)
class PreviewInputs:
    """Everything the forecast reads from the store, read in one session."""

    campaign_id: int
    start_at: datetime
    limits: MailboxLimits
    taken: list[datetime]
    plans: list[ProspectPlan]
    delays: list[timedelta]
    grace: timedelta
    when_to_send: WhenToSend
    specific_time: time | None
    manual_tasks: frozenset[int]


def schedule_preview(
    engine: Engine, campaign_id: int, start_at: datetime, shown: int
) -> SchedulePreview:
    """Forecast the campaign's not-yet-started prospects against the mailbox's reservations."""
    return preview_of(preview_inputs(engine, campaign_id, start_at), shown)


def preview_inputs(engine: Engine, campaign_id: int, start_at: datetime) -> PreviewInputs:
    """The campaign's steps and settings, its unstarted prospects' windows, the mailbox's
    limits and the reservations it holds from the start day on."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        if campaign.mailbox_id is None:
            raise ProblemError(
                422,
                [
                    Problem(
                        field="campaign_id",
                        reason="the schedule preview forecasts a mailbox's sends; this "
                        "campaign sends texts only (no mailbox)",
                    )
                ],
            )
        mailbox = session.get_one(Mailbox, campaign.mailbox_id)
        stored = list(session.exec(select(Step).where(Step.campaign_id == campaign_id)))
        steps = [s for s in step_plans(stored) if not s.skipped]
        people = session.exec(
            select(Prospect.id, Prospect.time_zone)
            .join(Enrollment)
            .where(Enrollment.campaign_id == campaign_id, col(Enrollment.workflow_id).is_(None))
            .order_by(col(Enrollment.id))
        ).all()
        limits = mailbox_limits(mailbox)
        day_start = local_datetime(
            local_date(start_at, limits.zone_name), time(0), limits.zone_name
        )
        taken = taken_slots(session, mailbox.id or 0, day_start - limits.spacing, _END_OF_TIME)
        windows: dict[str | None, SendWindow] = {}
        for _, time_zone in people:
            if time_zone not in windows:
                spec = schedule_for(
                    campaign,
                    mailbox,
                    Prospect(workspace_id=campaign.workspace_id, time_zone=time_zone),
                )
                windows[time_zone] = spec.window.to_window()
        return PreviewInputs(
            campaign_id=campaign_id,
            start_at=start_at,
            limits=limits,
            taken=taken,
            plans=[ProspectPlan(pid or 0, windows[time_zone]) for pid, time_zone in people],
            delays=[s.delay for s in steps],
            grace=timedelta(seconds=campaign.grace_seconds),
            when_to_send=WhenToSend(campaign.when_to_send),
            specific_time=parse_clock(campaign.specific_time) if campaign.specific_time else None,
            manual_tasks=frozenset(
                i for i, s in enumerate(steps) if s.kind is StepKind.MANUAL_TASK
            ),
        )


def preview_of(
    inputs: PreviewInputs, shown: int, calendar: CalendarFactory = MailboxCalendar.of
) -> SchedulePreview:
    """Run the forecast on ``inputs`` and shape the answer (``calendar``: the allocator)."""
    planned = forecast(
        calendar(inputs.limits, inputs.taken),
        inputs.plans,
        inputs.delays,
        inputs.start_at,
        inputs.grace,
        inputs.when_to_send,
        inputs.specific_time,
        manual_tasks=inputs.manual_tasks,
    )
    zone_name = inputs.limits.zone_name
    summaries = summarize(planned, zone_name, len(inputs.delays))
    count = len(inputs.plans)
    return SchedulePreview(
        campaign_id=inputs.campaign_id,
        start_at=inputs.start_at,
        summary=describe(summaries, count, zone_name) if count else "no prospects to schedule",
        steps=[
            StepForecast(
                position=s.position,
                first_send=s.first,
                last_send=s.last,
                busiest_day_sends=s.busiest_day,
            )
            for s in summaries
        ],
        total_prospects=count,
        prospects=[
            ProspectForecast(prospect_id=pid, sends=sends)
            for pid, sends in list(planned.items())[:shown]
        ],
    )
