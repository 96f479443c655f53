"""The re-contact cooldown: prospects a sequence reached lately are not enrolled again yet.

A workspace's ``recontact_cooldown_days`` (N, 0: off) counts whole UTC days from
the day a sequence ended (``enrollment.ended_at``, set where a status becomes
final) in any campaign of the workspace: one that ended on day D may join again
from day D + N. Only sequences that sent the prospect something count: one
stopped or removed before its first message reached nobody.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, func, select

from outbound.domain.problems import Problem
from outbound.store.tables import Enrollment, Message, Workspace


def cooldown_problems(
    session: Session, workspace_id: int, prospect_ids: Sequence[int], now: datetime
) -> list[Problem]:
    """One problem per day on which some of these prospects become eligible again."""
    workspace = session.get(Workspace, workspace_id)
    days = workspace.recontact_cooldown_days if workspace is not None else 0
    if days <= 0 or not prospect_ids:
        return []
    by_day: dict[date, list[int]] = defaultdict(list)
    for prospect_id, eligible in eligible_on(session, workspace_id, prospect_ids, days, now):
        by_day[eligible].append(prospect_id)
    return [
        Problem(
            field="prospects",
            reason=(
                f"{len(ids)} prospect(s) had a sequence end less than {days} day(s) ago "
                f"(the workspace's re-contact cooldown); eligible again on {day.isoformat()}; "
                "add them with ignore_cooldown=true to write to them now"
            ),
            prospect_ids=sorted(ids),
        )
        for day, ids in sorted(by_day.items())
    ]


def eligible_on(
    session: Session, workspace_id: int, prospect_ids: Sequence[int], days: int, now: datetime
) -> list[tuple[int, date]]:
    """(prospect, the UTC day they may join again) for those still cooling down."""
    cutoff = datetime.combine(now.astimezone(UTC).date() - timedelta(days=days - 1), time(0), UTC)
    reached = (
        select(Message.id)
        .where(col(Message.enrollment_id) == col(Enrollment.id), col(Message.sent_at).is_not(None))
        .exists()
    )
    rows = session.exec(
        select(Enrollment.prospect_id, func.max(Enrollment.ended_at))
        .where(
            Enrollment.workspace_id == workspace_id,
            col(Enrollment.prospect_id).in_(list(prospect_ids)),
            col(Enrollment.ended_at) >= cutoff,
            reached,
        )
        .group_by(col(Enrollment.prospect_id))
    ).all()
    return [
        (prospect_id, _utc_day(ended) + timedelta(days=days))
        for prospect_id, ended in rows
        if ended is not None
    ]


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:  # SQLite's max() hands back the stored text, zone-less
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()
