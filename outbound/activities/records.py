"""Mirror a workflow's state into the database, where the API lists it.

The workflow is the source of truth; this write is a copy. Each copy carries
the workflow's ``updated_at``, and an older copy never overwrites a newer one,
so a retried or delayed activity cannot roll the listing back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, insert, or_, true, update
from sqlmodel import col, select
from temporalio import activity

from outbound.domain.company_rules import COLLEAGUE_ENDED_SIGNAL
from outbound.domain.sequence import EnrollmentState
from outbound.domain.statuses import CampaignStatus, ProspectStatus
from outbound.inbound.signals import signal_each
from outbound.observability import metrics
from outbound.store.colleagues import ColleagueNews, news_of_ending
from outbound.store.tables import Campaign, Enrollment, EnrollmentStep, utc_now
from outbound.store.webhooks import emit
from outbound.webhooks.dispatch import Dispatcher
from outbound.webhooks.events import campaign_completed, enrollment_events

_ENDED = [s.value for s in ProspectStatus if s.is_terminal]


class RecordActivities:
    """Database writes on behalf of workflows; with a ``dispatcher``, the webhook events
    the new state tells of are stored in the same transaction and then dispatched."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher | None = None) -> None:
        self._engine = engine
        self._dispatcher = dispatcher

    @activity.defn(name="record_state")
    async def record_state(self, state: EnrollmentState) -> None:
        """Copy ``state`` into the enrollment's rows unless a newer copy is already there."""
        emitted, colleagues = await asyncio.to_thread(self.record, state)
        if emitted and self._dispatcher is not None:
            await self._dispatcher.dispatch(self._engine, activity.client())
        if colleagues is not None:  # after the commit: the halts are recorded first
            await signal_each(
                activity.client(),
                colleagues.workflow_ids,
                COLLEAGUE_ENDED_SIGNAL,
                colleagues.signal,
            )

    def record(self, state: EnrollmentState) -> tuple[int, ColleagueNews | None]:
        """One conditional UPDATE of the enrollment (the version check and the write in
        one statement, so concurrent copies cannot interleave), then its steps and the
        webhook events; returns how many webhook deliveries were stored, and the
        colleagues to tell of an ending (company rules, ``store.colleagues``)."""
        removed = state.status is ProspectStatus.REMOVED
        not_older = (
            true()
            if state.updated_at is None
            else or_(
                col(Enrollment.state_version).is_(None),
                col(Enrollment.state_version) <= state.updated_at,
            )
        )
        ended = has_ended(state)
        now = utc_now()
        values: dict[str, Any] = {
            "status": state.status.value,
            "reason": state.reason,
            "current_step": 0 if removed else state.current_step,
            "to_address": state.to_address,
            "awaiting_retry": state.awaiting_retry,
            "state_version": state.updated_at,
            "updated_at": now,
            # When the sequence ended (the re-contact cooldown counts from it); a late
            # bounce that reopens it clears it.
            "ended_at": case(
                (col(Enrollment.ended_at).is_(None), now), else_=col(Enrollment.ended_at)
            )
            if ended
            else None,
        }
        # A reply read from the inbox is stored by the pipeline before the workflow hears it.
        if state.replied_at is not None:
            values["replied_at"] = state.replied_at
        if state.reply_snippet:
            values["reply_snippet"] = state.reply_snippet
        with self._engine.begin() as connection:
            row = connection.execute(
                update(Enrollment)
                .where(col(Enrollment.id) == state.enrollment_id, not_older)
                .values(**values)
                .returning(
                    col(Enrollment.campaign_id),
                    col(Enrollment.workspace_id),
                    col(Enrollment.prospect_id),
                )
            ).first()
            if row is None:  # a newer copy is already there
                return 0, None
            campaign_id, workspace_id, prospect_id = row
            metrics.sequence_states.labels(status=state.status.value).inc()
            _record_steps(connection, state, removed)
            events = enrollment_events(state, campaign_id, prospect_id)
            colleagues = None
            if ended:
                colleagues = news_of_ending(connection, state, campaign_id, prospect_id)
                if complete_campaign_if_done(connection, campaign_id):
                    events.append(campaign_completed(state, campaign_id))
            else:
                _reopen_campaign(connection, campaign_id)
            return emit(connection, workspace_id, events), colleagues


def _record_steps(connection: Connection, state: EnrollmentState, removed: bool) -> None:
    """The steps' rows as the state has them.

    Remove deletes the prospect's progress in the campaign; the message log (what
    really went out) stays, so nothing is ever sent twice by mistake. A step deleted
    from the campaign before it was reached loses its row.
    """
    existing: dict[int, int] = {
        position: row_id
        for position, row_id in connection.execute(
            select(EnrollmentStep.position, EnrollmentStep.id).where(
                EnrollmentStep.enrollment_id == state.enrollment_id
            )
        )
    }
    kept = set() if removed else {step.position for step in state.steps}
    stale = [row_id for position, row_id in existing.items() if position not in kept]
    if stale:
        connection.execute(delete(EnrollmentStep).where(col(EnrollmentStep.id).in_(stale)))
    if removed:
        return
    for step in state.steps:
        values = {
            "status": step.status.value,
            "scheduled_at": step.scheduled_at,
            "sent_at": step.sent_at,
            "reason": step.reason,
        }
        if step.position in existing:
            connection.execute(
                update(EnrollmentStep)
                .where(col(EnrollmentStep.id) == existing[step.position])
                .values(**values)
            )
        else:
            connection.execute(
                insert(EnrollmentStep).values(
                    enrollment_id=state.enrollment_id, position=step.position, **values
                )
            )


def has_ended(state: EnrollmentState) -> bool:
    """Whether this sequence is over: ended for good, or Failed after its Retry window
    closed. A Failed step still waiting for a Retry is not over: the user has work."""
    if state.status is ProspectStatus.FAILED:
        return not state.awaiting_retry
    return state.status.is_terminal


def complete_campaign_if_done(connection: Connection, campaign_id: int) -> bool:
    """A running campaign is Completed once every prospect's sequence has ended (True:
    this call completed it).

    A prospect Failed and waiting for a manual Retry keeps it InProgress (its
    summary counts them as needing attention); one whose Retry window closed
    has ended.

    The campaign's row is locked first. On PostgreSQL (READ COMMITTED) the last
    two prospects ending at once would otherwise each see the other still
    running, neither would complete the campaign, and it would stay In progress
    for good; locked, the second waits for the first to commit and then sees it
    ended. (SQLite runs one writer at a time anyway.)
    """
    connection.execute(select(Campaign.id).where(Campaign.id == campaign_id).with_for_update())
    still_running = (
        select(Enrollment.id)
        .where(
            Enrollment.campaign_id == campaign_id,
            col(Enrollment.status).not_in(_ENDED),
            or_(
                col(Enrollment.status) != ProspectStatus.FAILED.value,
                col(Enrollment.awaiting_retry),
            ),
        )
        .exists()
    )
    completed = connection.execute(
        update(Campaign)
        .where(
            col(Campaign.id) == campaign_id,
            col(Campaign.status) == CampaignStatus.IN_PROGRESS.value,
            ~still_running,
        )
        .values(status=CampaignStatus.COMPLETED.value)
    )
    return bool(completed.rowcount)


def _reopen_campaign(connection: Connection, campaign_id: int) -> None:
    """A late bounce sends a step elsewhere after the campaign had completed: it runs again."""
    connection.execute(
        update(Campaign)
        .where(
            col(Campaign.id) == campaign_id,
            col(Campaign.status) == CampaignStatus.COMPLETED.value,
        )
        .values(status=CampaignStatus.IN_PROGRESS.value)
    )
