"""Load what a schedule forecast needs from the store and run it (see scheduling.forecast).

The forecast replays every prospect's requests through the mailbox calendars the
workflows' slot reservations use (``MailboxCalendar``), so a 20,000-prospect
campaign is 40,000 cheap calendar requests for two steps: a few seconds in all,
most of it reading the prospects. Prospects share windows: one is built per
time zone, with the same ``schedule_for`` that Start gives each workflow. Every
sending rule the reservation keeps is replayed too: a pool's mailboxes (each
prospect given one at their first slot), each mailbox's warm-up ramp, days off
and per-recipient-domain caps, and the campaign's days off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outbound.campaigns.start import schedule_for
from outbound.campaigns.steps import step_plans
from outbound.domain.problems import Problem, ProblemError, not_found
from outbound.domain.schedule import parse_clock
from outbound.domain.sending_rules import DomainCaps
from outbound.domain.statuses import MailboxConnection, StepKind
from outbound.domain.views import (
    MailboxForecast,
    ProspectForecast,
    SchedulePreview,
    StepForecast,
)
from outbound.scheduling.blackouts import days_off, without_days
from outbound.scheduling.domain_caps import Cap
from outbound.scheduling.forecast import ProspectPlan, describe, forecast, summarize
from outbound.scheduling.senders import Sender, Senders
from outbound.scheduling.slots import MailboxCalendar, MailboxLimits
from outbound.scheduling.when_to_send import WhenToSend
from outbound.scheduling.windows import Window, local_date, local_datetime
from outbound.store.mailbox_slots import recipient_domain
from outbound.store.prospects import first_choice_address
from outbound.store.sending_rules import workspace_caps
from outbound.store.slots import mailbox_limits, taken_slots
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Prospect,
    ProspectAddress,
    SlotReservation,
    Step,
    Workspace,
)

_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)

CalendarFactory = Callable[[MailboxLimits, Iterable[datetime]], MailboxCalendar]


@dataclass(frozen=True)
class SenderInputs:
    """One sending mailbox as the store holds it: limits (ramp included), the slots it
    holds from the start day on (and, per recipient domain, those of the day before
    too), its days off, its domain caps and whether it can send."""

    mailbox_id: int
    limits: MailboxLimits
    taken: list[datetime]
    days_off: frozenset[date] = frozenset()
    caps: DomainCaps | None = None
    domain_taken: dict[str, list[datetime]] = field(default_factory=dict)
    can_send: bool = True


@dataclass(frozen=True)
class PreviewInputs:
    """Everything the forecast reads from the store, read in one session."""

    campaign_id: int
    start_at: datetime
    mailboxes: list[SenderInputs]
    days_off: frozenset[date]
    plans: list[ProspectPlan]
    delays: list[timedelta]
    grace: timedelta
    when_to_send: WhenToSend
    specific_time: time | None
    manual_tasks: frozenset[int]


def schedule_preview(
    engine: Engine,
    campaign_id: int,
    start_at: datetime,
    shown: int,
    default_caps: DomainCaps | None = None,
) -> SchedulePreview:
    """Forecast the campaign's not-yet-started prospects against its mailboxes'
    reservations (``default_caps``: the deployment's per-domain caps)."""
    return preview_of(preview_inputs(engine, campaign_id, start_at, default_caps), shown)


def preview_inputs(
    engine: Engine, campaign_id: int, start_at: datetime, default_caps: DomainCaps | None = None
) -> PreviewInputs:
    """The campaign's steps and settings, its unstarted prospects' windows and domains, and
    each of its mailboxes' limits, days off, caps and the reservations it holds from the
    start day on."""
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
        domains = _first_domains(session, campaign_id)
        first_day = local_date(start_at, mailbox.time_zone)
        campaign_days = days_off(campaign.holiday_calendar, campaign.blackout_dates, first_day)
        workspace = session.get_one(Workspace, campaign.workspace_id)
        caps = workspace_caps(workspace, default_caps)
        pool = campaign.mailbox_pool or [mailbox.id or 0]
        senders = [
            _sender_inputs(
                session, session.get_one(Mailbox, each), start_at, caps, set(domains.values())
            )
            for each in pool
        ]
        windows: dict[str | None, Window] = {}
        for _, time_zone in people:
            if time_zone not in windows:
                spec = schedule_for(
                    campaign,
                    mailbox,
                    Prospect(workspace_id=campaign.workspace_id, time_zone=time_zone),
                )
                window = spec.window.to_window()
                windows[time_zone] = without_days(window, campaign_days, window.zone_name)
        return PreviewInputs(
            campaign_id=campaign_id,
            start_at=start_at,
            mailboxes=senders,
            days_off=campaign_days,
            plans=[
                ProspectPlan(pid or 0, windows[time_zone], domains.get(pid or 0))
                for pid, time_zone in people
            ],
            delays=[s.delay for s in steps],
            grace=timedelta(seconds=campaign.grace_seconds),
            when_to_send=WhenToSend(campaign.when_to_send),
            specific_time=parse_clock(campaign.specific_time) if campaign.specific_time else None,
            manual_tasks=frozenset(
                i for i, s in enumerate(steps) if s.kind is StepKind.MANUAL_TASK
            ),
        )


def _first_domains(session: Session, campaign_id: int) -> dict[int, str]:
    """The domain of the address each unstarted prospect's first message goes to."""
    rows = session.exec(
        select(ProspectAddress)
        .join(Enrollment, col(Enrollment.prospect_id) == ProspectAddress.prospect_id)
        .where(Enrollment.campaign_id == campaign_id, col(Enrollment.workflow_id).is_(None))
    ).all()
    grouped: dict[int, list[ProspectAddress]] = defaultdict(list)
    for row in rows:
        grouped[row.prospect_id].append(row)
    found = {pid: first_choice_address(addresses) for pid, addresses in grouped.items()}
    return {pid: recipient_domain(address) for pid, address in found.items() if address}


def _sender_inputs(
    session: Session,
    mailbox: Mailbox,
    start_at: datetime,
    caps: DomainCaps | None,
    domains: set[str],
) -> SenderInputs:
    limits = mailbox_limits(mailbox)
    first_day = local_date(start_at, limits.zone_name)
    day_start = local_datetime(first_day, time(0), limits.zone_name)
    domain_taken: dict[str, list[datetime]] = defaultdict(list)
    if caps is not None and domains:
        for slot, domain in session.exec(
            select(SlotReservation.slot_at, SlotReservation.to_domain).where(
                SlotReservation.mailbox_id == mailbox.id,
                col(SlotReservation.released_at).is_(None),
                SlotReservation.slot_day >= first_day - timedelta(days=1),
                col(SlotReservation.to_domain).in_(domains),
            )
        ):
            domain_taken[domain or ""].append(slot)
    return SenderInputs(
        mailbox_id=mailbox.id or 0,
        limits=limits,
        taken=taken_slots(session, mailbox.id or 0, day_start - limits.spacing, _END_OF_TIME),
        days_off=days_off(mailbox.holiday_calendar, mailbox.blackout_dates, first_day),
        caps=caps,
        domain_taken=dict(domain_taken),
        can_send=mailbox.connection_state == MailboxConnection.CONNECTED,
    )


def senders_of(inputs: PreviewInputs, calendar: CalendarFactory) -> Senders:
    """The in-memory mailboxes the forecast takes slots from."""
    built = []
    for each in inputs.mailboxes:
        caps = each.caps
        cap_for = None
        if caps is not None:

            def cap_for(domain: str, caps: DomainCaps = caps) -> Cap:
                cap = caps.for_domain(domain)
                return Cap(cap.hourly, cap.daily)

        sender = Sender(
            each.mailbox_id,
            calendar(each.limits, each.taken),
            each.days_off,
            cap_for,
            each.can_send,
        )
        for domain, slots in each.domain_taken.items():
            load = sender.load(domain)
            assert load is not None
            for slot in slots:
                load.take(slot)
        built.append(sender)
    return Senders(built)


def preview_of(
    inputs: PreviewInputs, shown: int, calendar: CalendarFactory = MailboxCalendar.of
) -> SchedulePreview:
    """Run the forecast on ``inputs`` and shape the answer (``calendar``: the allocator)."""
    senders = senders_of(inputs, calendar)
    planned = forecast(
        senders,
        inputs.plans,
        inputs.delays,
        inputs.start_at,
        inputs.grace,
        inputs.when_to_send,
        inputs.specific_time,
        manual_tasks=inputs.manual_tasks,
    )
    zone_name = inputs.mailboxes[0].limits.zone_name
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
            ProspectForecast(prospect_id=pid, sends=sends, mailbox_id=senders.assigned.get(pid))
            for pid, sends in list(planned.items())[:shown]
        ],
        mailboxes=[_mailbox_forecast(each, senders, inputs.start_at) for each in inputs.mailboxes],
        days_off=_within(inputs.days_off, local_date(inputs.start_at, zone_name)),
    )


_DAYS_SHOWN = 60
"""How many days ahead the preview lists days off and ramp limits."""


def _mailbox_forecast(each: SenderInputs, senders: Senders, start_at: datetime) -> MailboxForecast:
    first_day = local_date(start_at, each.limits.zone_name)
    ramp = each.limits.warmup
    return MailboxForecast(
        mailbox_id=each.mailbox_id,
        prospects=sum(1 for m in senders.assigned.values() if m == each.mailbox_id),
        daily_limit=each.limits.daily_limit,
        limits_by_day=(
            {
                first_day + timedelta(days=n): each.limits.limit_on(first_day + timedelta(days=n))
                for n in range(_DAYS_SHOWN)
                if each.limits.limit_on(first_day + timedelta(days=n)) < each.limits.daily_limit
            }
            if ramp is not None
            else {}
        ),
        days_off=_within(each.days_off, first_day),
        can_send=each.can_send,
    )


def _within(days: frozenset[date], first_day: date) -> list[date]:
    horizon = first_day + timedelta(days=_DAYS_SHOWN)
    return sorted(day for day in days if first_day <= day < horizon)
