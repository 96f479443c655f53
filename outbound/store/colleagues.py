"""A prospect's colleagues in a campaign: whom its ending concerns, and whose turn it is.

Colleagues are the campaign's other unfinished enrollments whose prospect has an
address at one of this prospect's company domains (``domain.company_key``: free
mail aside) or the same non-empty company field. One query finds them, through
the enrollment's campaign index and each prospect's addresses.

``news_of_ending`` runs in the transaction that records a sequence's ending
(``activities.records``): with the rule ``stop`` it records the halt on each
colleague (the send activity's last look reads it, as after a user's Stop) and
settles those whose workflow has not started yet; it returns whom to signal
``colleague_ended`` after the commit. The workflow applies the rule
(``workflows.colleagues``): a signal repeated by a retried write changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, false, func, literal, or_, update
from sqlmodel import col, select

from outbound.domain.company_key import company_domain, company_name
from outbound.domain.company_rules import (
    COLLEAGUE_REASONS,
    ColleagueEnded,
    CompanyRule,
    colleague_reason,
)
from outbound.domain.search_attributes import enrollment_workflow_id
from outbound.domain.sequence import EnrollmentState
from outbound.domain.statuses import ProspectStatus
from outbound.store.tables import Campaign, Enrollment, Prospect, ProspectAddress, utc_now

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


@dataclass(frozen=True)
class ColleagueNews:
    """The ``colleague_ended`` signal to send to these workflows once the write commits."""

    workflow_ids: list[str]
    signal: ColleagueEnded


def news_of_ending(
    connection: Connection, state: EnrollmentState, campaign_id: int, prospect_id: int
) -> ColleagueNews | None:
    """For an ended sequence of a campaign with company rules: stage the rule's halts and
    say whom to tell (None: nobody)."""
    rules = connection.execute(
        select(Campaign.company_rule, Campaign.one_per_company).where(Campaign.id == campaign_id)
    ).first()
    if rules is None:
        return None
    stored_rule, one_per_company = rules
    rule = CompanyRule(stored_rule or CompanyRule.OFF)
    if state.status not in COLLEAGUE_REASONS:
        rule = CompanyRule.OFF
    if rule is CompanyRule.OFF and not one_per_company:
        return None
    colleagues = colleagues_of(connection, campaign_id, state.enrollment_id, prospect_id)
    if not colleagues:
        return None
    if rule is CompanyRule.STOP:
        _halt(connection, colleagues, colleague_reason(state.status))
    return ColleagueNews(
        [enrollment_workflow_id(campaign_id, pid) for _, pid, _ in colleagues],
        ColleagueEnded(
            key=f"{state.enrollment_id}:{state.status.value}", ended_as=state.status, rule=rule
        ),
    )


def colleagues_of(
    connection: Connection, campaign_id: int, enrollment_id: int, prospect_id: int
) -> list[tuple[int, int, str | None]]:
    """(enrollment id, prospect id, workflow id) of the prospect's unfinished colleagues in
    the campaign, oldest enrollment first."""
    same_company = _same_company(connection, prospect_id)
    if same_company is None:
        return []
    rows = connection.execute(
        select(Enrollment.id, Enrollment.prospect_id, Enrollment.workflow_id)
        .join(Prospect, col(Prospect.id) == col(Enrollment.prospect_id))
        .where(
            Enrollment.campaign_id == campaign_id,
            Enrollment.id != enrollment_id,
            col(Enrollment.status).not_in(_ENDED),
            same_company,
        )
        .order_by(col(Enrollment.id))
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def company_turn(connection: Connection, enrollment_id: int) -> bool:
    """Whether this enrollment may go now under "one prospect per company at a time": no
    unfinished colleague was enrolled before it (the oldest one goes first)."""
    row = connection.execute(
        select(Enrollment.campaign_id, Enrollment.prospect_id).where(Enrollment.id == enrollment_id)
    ).first()
    if row is None:
        return True
    colleagues = colleagues_of(connection, row[0], enrollment_id, row[1])
    return not any(other_id < enrollment_id for other_id, _, _ in colleagues)


def _same_company(connection: Connection, prospect_id: int) -> Any | None:
    """The condition a colleague's prospect meets (None: this prospect has no company key)."""
    company = connection.execute(
        select(Prospect.company).where(Prospect.id == prospect_id)
    ).scalar_one_or_none()
    addresses = connection.execute(
        select(ProspectAddress.address).where(ProspectAddress.prospect_id == prospect_id)
    ).scalars()
    domains = sorted({d for d in map(company_domain, addresses) if d is not None})
    conditions: list[Any] = []
    if company_name(company) is not None:
        conditions.append(
            and_(
                func.trim(col(Prospect.company)) != "",
                func.lower(func.trim(col(Prospect.company)))
                == func.lower(func.trim(literal(company))),
            )
        )
    if domains:
        at_domain = or_(
            *(
                func.lower(col(ProspectAddress.address)).like(f"%@{_escaped(d)}", escape="\\")
                for d in domains
            )
        )
        conditions.append(
            select(ProspectAddress.id)
            .where(col(ProspectAddress.prospect_id) == col(Prospect.id), at_domain)
            .exists()
        )
    return or_(false(), *conditions) if conditions else None


def _escaped(domain: str) -> str:
    return domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


Colleague = tuple[int, int, str | None]  # enrollment id, prospect id, workflow id


def _halt(connection: Connection, colleagues: list[Colleague], reason: str) -> None:
    """Stop colleagues: the halt their next send's last look reads; one never started is
    settled here (the start fan-out leaves it out)."""
    ids = [enrollment_id for enrollment_id, _, _ in colleagues]
    connection.execute(
        update(Enrollment)
        .where(col(Enrollment.id).in_(ids), col(Enrollment.halt_status).is_(None))
        .values(halt_status=ProspectStatus.STOPPED.value)
    )
    unstarted = [enrollment_id for enrollment_id, _, workflow_id in colleagues if not workflow_id]
    if unstarted:
        now = utc_now()
        connection.execute(
            update(Enrollment)
            .where(col(Enrollment.id).in_(unstarted), col(Enrollment.workflow_id).is_(None))
            .values(
                status=ProspectStatus.STOPPED.value, reason=reason, ended_at=now, updated_at=now
            )
        )
