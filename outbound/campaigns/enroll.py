"""Add prospects to a campaign: safely repeated, one active campaign per prospect by default.

Adding a prospect already in the campaign changes nothing (its enrollment and
workflow id are fixed). A prospect still active in another campaign is refused
with that campaign's id and name unless the caller overrides: two sequences
to one person at once is what the user almost never wants (Outreach's rule).
So is, by default, one whose last sequence ended with their answer (Replied,
Bounced, OptedOut): writing again to someone who replied or asked to stop is
a decision the user makes on purpose (``allow_recontact``), never by accident.
A prospect whose sequence ended less than the workspace's re-contact cooldown
ago is refused with the day they become eligible (``store.cooldown``), unless
the caller sets ``ignore_cooldown``.
Joining a running campaign starts the prospect's workflow at once, with its
own grace delay.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select
from temporalio.client import Client

from outbound.campaigns import prospect_controls
from outbound.campaigns import start as campaign_start
from outbound.domain.bulk import AddToCampaign, ProspectAction
from outbound.domain.problems import Problem, ProblemError, conflict, not_found
from outbound.domain.prospects import ProspectCreate
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.domain.views import AddProspectsResult
from outbound.settings import Settings
from outbound.store.cooldown import cooldown_problems
from outbound.store.prospects import addresses_of, phones_of, upsert_prospects
from outbound.store.suppressions import suppressed_among
from outbound.store.tables import Campaign, Enrollment, Prospect

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]
NO_RECONTACT = (ProspectStatus.REPLIED, ProspectStatus.BOUNCED, ProspectStatus.OPTED_OUT)
_LIVE_CAMPAIGN = [
    CampaignStatus.READY.value,
    CampaignStatus.IN_PROGRESS.value,
    CampaignStatus.PAUSED.value,
]


async def enroll(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    campaign_id: int,
    prospects: Sequence[ProspectCreate] | Sequence[int],
    *,
    allow_other_active: bool = False,
    allow_recontact: bool = False,
    ignore_cooldown: bool = False,
    leaving_campaign: int | None = None,
) -> AddProspectsResult:
    """Store new prospects (or take existing ids) and enroll them; all or none.

    ``leaving_campaign`` is the campaign a move takes them out of: being active
    there does not count against the one-campaign rule.
    """
    if not prospects:
        raise ProblemError(422, [Problem(field="body", reason="no prospects given")])
    overrides = _Overrides(allow_other_active, allow_recontact, leaving_campaign, ignore_cooldown)
    result, plan = await asyncio.to_thread(_store, engine, campaign_id, prospects, overrides)
    if plan is not None and plan.inputs:
        await campaign_start.launch(temporal, settings, plan)
        await asyncio.to_thread(campaign_start.mark_launched, engine, plan)
    return result


def active_elsewhere(
    session: Session, campaign_id: int, prospect_ids: Sequence[int], ignoring: int | None = None
) -> list[Problem]:
    """One problem per other live campaign in which some of these prospects are still active."""
    rows = session.exec(
        select(Enrollment.prospect_id, Campaign.id, Campaign.name)
        .join(Campaign)
        .where(
            col(Enrollment.prospect_id).in_(list(prospect_ids)),
            Enrollment.campaign_id != campaign_id,
            col(Enrollment.status).not_in(_ENDED),
            col(Campaign.status).in_(_LIVE_CAMPAIGN),
        )
        .order_by(col(Campaign.id), col(Enrollment.prospect_id))
    ).all()
    by_campaign: dict[tuple[int, str], list[int]] = defaultdict(list)
    for prospect_id, other_id, name in rows:
        if other_id is not None and other_id != ignoring:
            by_campaign[(other_id, name)].append(prospect_id)
    return [
        Problem(
            field="prospects",
            reason=(
                f"{len(ids)} prospect(s) are active in campaign {other_id} ({name!r}); "
                "stop or finish them there, or add them with allow_other_active=true"
            ),
            prospect_ids=ids,
        )
        for (other_id, name), ids in by_campaign.items()
    ]


def ended_with_answer(
    session: Session, campaign_id: int, prospect_ids: Sequence[int]
) -> list[Problem]:
    """One problem per other campaign and outcome where these prospects' last sequence
    ended Replied, Bounced or OptedOut (the most recent enrollment elsewhere decides)."""
    rows = session.exec(
        select(Enrollment.prospect_id, Enrollment.status, Campaign.id, Campaign.name)
        .join(Campaign)
        .where(
            col(Enrollment.prospect_id).in_(list(prospect_ids)),
            Enrollment.campaign_id != campaign_id,
        )
        .order_by(col(Enrollment.id))
    ).all()
    last = {prospect_id: (status, other, name) for prospect_id, status, other, name in rows}
    by_outcome: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    for prospect_id, (status, other_id, name) in sorted(last.items()):
        if status in NO_RECONTACT and other_id is not None:
            by_outcome[(other_id, name, status)].append(prospect_id)
    return [
        Problem(
            field="prospects",
            reason=(
                f"{len(ids)} prospect(s) ended {status} in campaign {other_id} ({name!r}); "
                "add them with allow_recontact=true to write to them again"
            ),
            prospect_ids=ids,
        )
        for (other_id, name, status), ids in sorted(by_outcome.items())
    ]


def only_suppressed(session: Session, workspace_id: int, prospect_ids: Sequence[int]) -> list[int]:
    """The prospects every one of whose addresses is on the workspace's suppression list;
    for a prospect without an address (an SMS-only contact), every one of its numbers.

    A prospect with one allowed address left may join: the address check
    before the first send skips the suppressed ones, as does the send's last look.
    """
    if not prospect_ids:
        return []
    addresses = addresses_of(session, prospect_ids)
    contacts = {pid: [a.address.strip().lower() for a in rows] for pid, rows in addresses.items()}
    phone_only = [pid for pid, rows in contacts.items() if not rows]
    for pid, phones in phones_of(session, phone_only).items():
        contacts[pid] = [p.number for p in phones]
    everyone = [c for rows in contacts.values() for c in rows]
    listed = suppressed_among(session, workspace_id, everyone)
    return [pid for pid, rows in contacts.items() if rows and all(c in listed for c in rows)]


@dataclass(frozen=True)
class _Overrides:
    allow_other_active: bool
    allow_recontact: bool
    leaving_campaign: int | None
    ignore_cooldown: bool = False


def _store(
    engine: Engine,
    campaign_id: int,
    prospects: Sequence[ProspectCreate] | Sequence[int],
    overrides: _Overrides,
) -> tuple[AddProspectsResult, campaign_start.LaunchPlan | None]:
    """Store prospects and enrollments in one transaction; for a running campaign also plan
    their workflows, refusing the whole request if a template field is missing."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        if campaign.status in (CampaignStatus.STOPPED, CampaignStatus.COMPLETED):
            raise conflict(
                "status", f"campaign is {campaign.status}; prospects can no longer be added"
            )
        ids = _prospect_ids(session, campaign.workspace_id, prospects)
        enrolled_already = set(
            session.exec(
                select(Enrollment.prospect_id).where(
                    Enrollment.campaign_id == campaign_id, col(Enrollment.prospect_id).in_(ids)
                )
            )
        )
        joining = [pid for pid in ids if pid not in enrolled_already]
        unreachable = only_suppressed(session, campaign.workspace_id, joining)
        if unreachable:
            session.rollback()
            raise ProblemError(
                409,
                [
                    Problem(
                        field="prospects",
                        reason=(
                            f"{len(unreachable)} prospect(s) have only addresses on the "
                            "suppression list of this workspace (opted out or bounced; for "
                            "one without an address, its phone numbers); "
                            "they are never sent to"
                        ),
                        prospect_ids=unreachable,
                    )
                ],
            )
        problems = _refusals(session, campaign, joining, overrides)
        if problems:
            session.rollback()
            raise ProblemError(409, problems)
        new = _insert_enrollments(session, campaign.workspace_id, campaign_id, joining)
        if campaign.status == CampaignStatus.DRAFT and new:
            campaign.status = CampaignStatus.READY.value
            session.add(campaign)
        session.flush()
        plan = None
        if campaign.status == CampaignStatus.IN_PROGRESS and new:  # Paused: Resume starts them
            # Joining a running campaign: their own grace delay starts now.
            plan = campaign_start.enrollment_plan(
                session,
                campaign,
                datetime.now(UTC),
                only_unstarted=True,
                enrollment_ids=new,
            )
        session.commit()
        return AddProspectsResult(
            campaign_id=campaign_id,
            prospect_ids=ids,
            enrolled=len(new),
            already_enrolled=len(enrolled_already),
        ), plan


def _refusals(
    session: Session, campaign: Campaign, joining: list[int], overrides: _Overrides
) -> list[Problem]:
    """Why some joining prospects should not be enrolled, unless the caller says so."""
    if not joining:
        return []
    campaign_id = campaign.id or 0
    problems = []
    if not overrides.allow_other_active:
        problems += active_elsewhere(
            session, campaign_id, joining, ignoring=overrides.leaving_campaign
        )
    if not overrides.allow_recontact:
        problems += ended_with_answer(session, campaign_id, joining)
    if not overrides.ignore_cooldown:
        problems += cooldown_problems(session, campaign.workspace_id, joining, datetime.now(UTC))
    return problems


def _insert_enrollments(
    session: Session, workspace_id: int, campaign_id: int, prospect_ids: list[int]
) -> list[int]:
    """One multi-row INSERT of NotStarted enrollments; their ids, in order."""
    if not prospect_ids:
        return []
    now = datetime.now(UTC)
    rows = [
        {
            "workspace_id": workspace_id,
            "campaign_id": campaign_id,
            "prospect_id": pid,
            "status": ProspectStatus.NOT_STARTED.value,
            "current_step": 0,
            "updated_at": now,
        }
        for pid in prospect_ids
    ]
    returning = insert(Enrollment).returning(col(Enrollment.id), sort_by_parameter_order=True)
    return list(session.execute(returning, rows).scalars())


def _prospect_ids(
    session: Session, workspace_id: int, prospects: Sequence[ProspectCreate] | Sequence[int]
) -> list[int]:
    """Ids of the given prospects, storing new ones; unknown ids are a 422 naming them."""
    if all(isinstance(p, ProspectCreate) for p in prospects):
        people = [p for p in prospects if isinstance(p, ProspectCreate)]
        return list(dict.fromkeys(upsert_prospects(session, workspace_id, people)))
    wanted = list(dict.fromkeys(p for p in prospects if isinstance(p, int)))
    known = set(session.exec(select(Prospect.id).where(col(Prospect.id).in_(wanted))))
    unknown = [pid for pid in wanted if pid not in known]
    if unknown:
        raise ProblemError(
            422, [Problem(field="prospect_ids", reason="unknown prospects", prospect_ids=unknown)]
        )
    return wanted


async def add_to_other_campaign(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    enrollment: Enrollment,
    target: AddToCampaign,
) -> AddProspectsResult:
    """Enroll the prospect in ``target.campaign_id``; a move then removes it from its campaign.

    The other campaign is asked first, so a refusal there leaves this one untouched.
    A prospect whose sequence here has ended (Stopped, Completed, …) is added all the
    same (that is when a user most wants to) and keeps its ended history here: a
    move has nothing left to remove.
    """
    if target.campaign_id == enrollment.campaign_id:
        raise ProblemError(
            422, [Problem(field="campaign_id", reason="the prospect is already in this campaign")]
        )
    ended = ProspectStatus(enrollment.status).is_terminal
    result = await enroll(
        engine,
        temporal,
        settings,
        target.campaign_id,
        [enrollment.prospect_id],
        allow_other_active=target.allow_other_active,
        allow_recontact=target.allow_recontact,
        ignore_cooldown=target.ignore_cooldown,
        leaving_campaign=enrollment.campaign_id if target.move else None,
    )
    if target.move and not ended:
        await prospect_controls.apply(engine, temporal, enrollment, ProspectAction.REMOVE)
    return result
