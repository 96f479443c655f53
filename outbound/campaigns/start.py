"""Start a campaign: check it can run, then start one workflow per enrollment.

Checks come first and change nothing when they fail: a template field that some
prospect lacks is refused with the field and the prospects' ids, a mailbox
that cannot log in is refused with the server's answer, and no workflow is
started. Starting is idempotent: workflow ids are fixed per
(campaign, prospect) and "already started" counts as success, so a start that
was interrupted can simply be repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from outbound.campaigns.sms_start import sms_recipients
from outbound.campaigns.steps import step_plans
from outbound.domain import search_attributes
from outbound.domain.campaigns import ConsentAttestation
from outbound.domain.launch import LaunchInput
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.schedule import ScheduleSpec, TimeZoneSource, parse_clock, window_from
from outbound.domain.sequence import ENROLLMENT_WORKFLOW, EnrollmentInput
from outbound.domain.statuses import (
    AddressType,
    CampaignStatus,
    MailboxConnection,
    ProspectStatus,
    StepKind,
)
from outbound.mail.check_rate import ConnectionChecks, rate_key
from outbound.mail.hosts import HostRefused
from outbound.mail.outcomes import Outcome
from outbound.mail.smtp import SendFailed, check_login
from outbound.oauth.tokens import AccessTokens
from outbound.scheduling.when_to_send import WhenToSend
from outbound.settings import Settings
from outbound.store.encryption import Keyring
from outbound.store.mailboxes import park, reconnect_hint, smtp_account
from outbound.store.prospects import addresses_of, campaign_addresses
from outbound.store.reputation import paused_refusal
from outbound.store.tables import Campaign, Enrollment, Mailbox, Prospect, SmsSender, Step
from outbound.templating.context import UNSUBSCRIBE_VARIABLE, prospect_context
from outbound.templating.render import find_missing_fields
from outbound.workflows.launcher import launch_workflow_id

_START_CONCURRENCY = 32
_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to start the workflows, read from the store in one go."""

    campaign_id: int
    mailbox_id: int | None
    inputs: list[EnrollmentInput]
    workspace_id: int
    first_send_not_before: datetime
    started_at: datetime
    already_started: int = 0
    sms_sender_id: int | None = None
    has_sms: bool = False
    mailbox_pool: tuple[int, ...] = ()


def schedule_for(
    campaign: Campaign, mailbox: Mailbox | SmsSender, prospect: Prospect
) -> ScheduleSpec:
    """The campaign's window (else the mailbox's), in the mailbox's or the prospect's zone.

    A prospect without a known time zone falls back to the mailbox's: never unscheduled.
    An all-SMS campaign has no mailbox: its SMS sender's days, hours and zone stand in.
    """
    zone_name = mailbox.time_zone
    if campaign.time_zone_source == TimeZoneSource.PROSPECT and prospect.time_zone:
        zone_name = prospect.time_zone
    window = window_from(
        campaign.send_days or mailbox.send_days,
        campaign.send_start or mailbox.send_start,
        campaign.send_end or mailbox.send_end,
        zone_name,
    )
    return ScheduleSpec(
        window=window,
        when_to_send=WhenToSend(campaign.when_to_send),
        specific_time=parse_clock(campaign.specific_time) if campaign.specific_time else None,
    )


def prepare_start(engine: Engine, campaign_id: int, *, resuming: bool = False) -> LaunchPlan:
    """Validate and plan a start; a ProblemError means nothing can start. Changes nothing.

    ``resuming``: Resume starts whoever a pause held back, which may be nobody.
    """
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        if campaign.status in (CampaignStatus.STOPPED, CampaignStatus.COMPLETED):
            raise conflict("status", f"campaign is {campaign.status}; it cannot be started again")
        if campaign.status == CampaignStatus.PAUSED and not resuming:
            raise conflict("status", "campaign is Paused; resume it instead")
        anyone = session.exec(
            select(Enrollment.id).where(
                Enrollment.campaign_id == campaign_id, col(Enrollment.status).not_in(_ENDED)
            )
        ).first()
        if anyone is None and not resuming:
            raise ProblemError(
                422,
                [Problem(field="prospects", reason="campaign has no prospects left to send to")],
            )
        started_at = campaign.started_at or datetime.now(UTC)
        plan = enrollment_plan(session, campaign, started_at, only_unstarted=True)
        already = session.exec(
            select(func.count()).where(
                Enrollment.campaign_id == campaign_id, col(Enrollment.workflow_id).is_not(None)
            )
        ).one()
        return replace(plan, already_started=already)


async def check_mailbox(
    engine: Engine,
    keyring: Keyring,
    mailbox_id: int,
    checks: ConnectionChecks,
    tokens: AccessTokens,
) -> None:
    """Refuse to start on a mailbox that cannot log in (409 saying why, in a fixed reason);
    parks it if refused. The check counts against the workspace's rate of checks (429)."""

    def load() -> Mailbox:
        with Session(engine) as session:
            return session.get_one(Mailbox, mailbox_id)

    mailbox = await asyncio.to_thread(load)
    if mailbox.connection_state == MailboxConnection.PAUSED_REPUTATION:
        raise conflict("mailbox_id", paused_refusal(mailbox))
    if mailbox.connection_state != MailboxConnection.CONNECTED:
        raise conflict(
            "mailbox_id",
            f"mailbox {mailbox_id} needs re-authentication ({mailbox.connection_problem}); "
            f"{reconnect_hint(mailbox)}",
        )
    checks.take(rate_key(mailbox.workspace_id))
    try:
        await check_login(smtp_account(mailbox, keyring, hosts=checks.hosts, tokens=tokens))
    except HostRefused as refused:
        raise conflict("mailbox_id", f"mailbox {mailbox_id}: {refused}; nothing started") from None
    except SendFailed as failed:
        classified = failed.classified
        if classified.outcome is Outcome.AUTH_FAILED:

            def park_it() -> None:
                with Session(engine) as session:
                    park(session, session.get_one(Mailbox, mailbox_id), classified.reason)

            await asyncio.to_thread(park_it)
            raise conflict(
                "mailbox_id",
                f"mailbox {mailbox_id} refused the login ({classified.reason}); "
                f"{reconnect_hint(mailbox)}",
            ) from None
        raise conflict(
            "mailbox_id",
            f"mailbox {mailbox_id} could not be reached ({classified.reason}); nothing started",
        ) from None


async def check_pool(
    engine: Engine,
    keyring: Keyring,
    pool: tuple[int, ...],
    checks: ConnectionChecks,
    tokens: AccessTokens,
) -> None:
    """A pool starts if one of its mailboxes logs in: the others get no prospects until
    they are reconnected (or resumed). When none can, the first mailbox's refusal."""
    refusals: list[ProblemError] = []
    for mailbox_id in pool:
        try:
            await check_mailbox(engine, keyring, mailbox_id, checks, tokens)
        except ProblemError as refused:
            if refused.status == 429:
                raise
            refusals.append(refused)
    if len(refusals) == len(pool):
        raise refusals[0]


def mark_started(engine: Engine, plan: LaunchPlan, consent: ConsentAttestation) -> None:
    """The campaign is InProgress, with who accepted the consent attestation and when."""
    with Session(engine) as session:
        campaign = session.get_one(Campaign, plan.campaign_id)
        if campaign.status == CampaignStatus.IN_PROGRESS:
            return
        campaign.status = CampaignStatus.IN_PROGRESS.value
        campaign.started_at = plan.started_at
        campaign.consent_accepted_by = consent.accepted_by
        campaign.consent_accepted_at = datetime.now(UTC)
        session.add(campaign)
        session.commit()


def enrollment_plan(
    session: Session,
    campaign: Campaign,
    started_at: datetime,
    *,
    only_unstarted: bool,
    enrollment_ids: Sequence[int] | None = None,
) -> LaunchPlan:
    """Workflow inputs for a campaign's enrollments; refuses templates with missing fields."""
    assert campaign.id is not None
    steps = list(session.exec(select(Step).where(Step.campaign_id == campaign.id)))
    query = select(Enrollment, Prospect).join(Prospect).where(Enrollment.campaign_id == campaign.id)
    # Stopped, marked finished or removed before their workflow started: never start them.
    query = query.where(col(Enrollment.status).not_in(_ENDED))
    if only_unstarted:
        query = query.where(col(Enrollment.workflow_id).is_(None))
    if enrollment_ids is not None:
        query = query.where(col(Enrollment.id).in_(list(enrollment_ids)))
    rows = list(session.exec(query.order_by(col(Enrollment.id))))
    addresses = addresses_of(session, [p.id for _, p in rows if p.id is not None])
    preference = AddressType(campaign.address_preference) if campaign.address_preference else None
    candidates = {
        p.id: _with_override(
            e.override_address,
            campaign_addresses(addresses[p.id], preference, campaign.only_preferred_type),
        )
        for e, p in rows
        if p.id is not None
    }
    chosen = {pid: (found[0] if found else None) for pid, found in candidates.items()}
    contexts = {
        p.id: {
            **prospect_context(p.model_dump(), p.fields, chosen[p.id]),
            UNSUBSCRIBE_VARIABLE: "(filled in per message)",
        }
        for _, p in rows
        if p.id is not None
    }
    templates = [t for s in steps if not s.skipped for t in (s.subject, s.body)]
    problems = find_missing_fields(templates, contexts)
    if problems:
        raise ProblemError(
            422,
            [
                Problem(
                    field=problem.field,
                    reason=(
                        f"templates use {{{{ {problem.field} }}}} but {len(problem.prospect_ids)} "
                        "prospect(s) have no value for it; add the field or change the template"
                    ),
                    prospect_ids=problem.prospect_ids,
                )
                for problem in problems
            ],
        )
    plans = step_plans(steps)
    grace = timedelta(seconds=campaign.grace_seconds)
    sender = _sender_of(session, campaign)
    recipients = sms_recipients(session, campaign, [p for _, p in rows])
    inputs = [
        EnrollmentInput(
            enrollment_id=e.id or 0,
            campaign_id=campaign.id,
            prospect_id=p.id or 0,
            mailbox_id=campaign.mailbox_id,
            started_at=started_at,
            grace=grace,
            steps=plans,
            to_address=chosen[p.id or 0],
            fallback_addresses=candidates[p.id or 0][1:],
            schedule=schedule_for(campaign, sender, p),
            sms=recipients.get(p.id or 0),
            one_per_company=campaign.one_per_company,
        )
        for e, p in rows
    ]
    return LaunchPlan(
        campaign.id,
        campaign.mailbox_id,
        inputs,
        campaign.workspace_id,
        started_at + grace,
        started_at,
        sms_sender_id=campaign.sms_sender_id,
        has_sms=any(s.kind == StepKind.SMS for s in steps),
        mailbox_pool=tuple(campaign.mailbox_pool),
    )


def _sender_of(session: Session, campaign: Campaign) -> Mailbox | SmsSender:
    """Whose days, hours and zone the campaign's schedule falls back to: the mailbox's,
    else (an all-SMS campaign) the SMS sender's."""
    if campaign.mailbox_id is not None:
        return session.get_one(Mailbox, campaign.mailbox_id)
    return session.get_one(SmsSender, campaign.sms_sender_id)


def _with_override(override: str | None, addresses: list[str]) -> list[str]:
    """A per-campaign override address goes first; the profile's order follows."""
    if override is None:
        return addresses
    return [override, *(a for a in addresses if a != override)]


async def start_fan_out(client: Client, settings: Settings, plan: LaunchPlan) -> str:
    """Start (or join) the campaign's fan-out workflow; returns its id.

    A fan-out still running is joined, not duplicated; a finished one is run
    again, which starts only what it had not (Start repeated after a failure).
    """
    workflow_id = launch_workflow_id(plan.campaign_id)
    await client.start_workflow(
        "CampaignLaunch",
        LaunchInput(campaign_id=plan.campaign_id, started_at=plan.started_at),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes.workflow_attributes(
            plan.workspace_id, campaign_id=plan.campaign_id
        ),
    )
    return workflow_id


async def launch(client: Client, settings: Settings, plan: LaunchPlan) -> tuple[int, int]:
    """Start every planned workflow; returns (started now, already running)."""
    semaphore = asyncio.Semaphore(_START_CONCURRENCY)

    async def start_one(request: EnrollmentInput) -> bool:
        async with semaphore:
            try:
                await client.start_workflow(
                    ENROLLMENT_WORKFLOW,
                    request,
                    id=search_attributes.enrollment_workflow_id(
                        request.campaign_id, request.prospect_id
                    ),
                    task_queue=settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=search_attributes.workflow_attributes(
                        plan.workspace_id,
                        campaign_id=request.campaign_id,
                        mailbox_id=request.mailbox_id,
                        status=ProspectStatus.NOT_STARTED.value,
                    ),
                )
            except WorkflowAlreadyStartedError:
                return False
            return True

    outcomes = await asyncio.gather(*(start_one(r) for r in plan.inputs))
    started = sum(outcomes)
    return started, len(outcomes) - started


def mark_launched(engine: Engine, plan: LaunchPlan) -> None:
    """Remember each enrollment's workflow id (after its workflow exists)."""
    by_id = {r.enrollment_id: r for r in plan.inputs}
    with Session(engine) as session:
        for enrollment in session.exec(
            select(Enrollment).where(col(Enrollment.id).in_(list(by_id)))
        ):
            request = by_id[enrollment.id or 0]
            enrollment.workflow_id = search_attributes.enrollment_workflow_id(
                request.campaign_id, request.prospect_id
            )
            enrollment.to_address = enrollment.to_address or request.to_address
            session.add(enrollment)
        session.commit()
