"""A recipient opts out: suppress the address for the workspace, and stop every sequence to it.

The database comes first, in one transaction: the suppression entry (each
spelling of the address), the unsubscribe event on the message it came from,
and the halt of every unfinished sequence of the same workspace to that address
(``halt_status`` = OptedOut, which the send activity's last look reads, so
nothing goes out after this commit). Then each workflow is signalled; one
that has ended meanwhile is fine. Doing it again changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import Engine, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client

from outbound.domain.addresses import GMAIL_DOMAINS, normalise
from outbound.domain.statuses import ProspectStatus, SuppressionSource
from outbound.inbound.signals import signal_each
from outbound.store.reputation import ReputationLimits, sending_mailbox_of
from outbound.store.reputation import check as check_reputation
from outbound.store.suppressions import stage_suppression
from outbound.store.tables import Enrollment, Message, TrackingEvent, utc_now
from outbound.tracking.message_links import message_row_of
from outbound.tracking.tokens import LinkTarget, Purpose

_ENDED_EXCEPT_COMPLETED = [
    s.value for s in ProspectStatus if s.is_terminal and s is not ProspectStatus.COMPLETED
]
OPT_OUT_SIGNAL = "opt_out"


@dataclass(frozen=True)
class OptOutResult:
    """What an unsubscribe did: the sequences it stopped, and whether it was new."""

    address: str
    first_time: bool
    stopped_enrollment_ids: list[int]
    workflow_ids: list[str]


def record_opt_out(
    engine: Engine,
    message_row_id: int | LinkTarget,
    via: str,
    source: SuppressionSource = SuppressionSource.UNSUBSCRIBE,
    *,
    reputation: ReputationLimits | None = None,
) -> OptOutResult | None:
    """Suppress the recipient of message ``message_row_id`` (or the one a signed link names)
    and halt their sequences.

    ``source`` says why: an unsubscribe, or a complaint (an abuse report acts the same
    way, recorded as such on the list and as a ``complaint`` event of the message; with
    ``reputation``, the guard's limits, a complaint is judged in the same transaction and
    may pause the mailbox: ``outbound.store.reputation``).
    None when the message does not exist (a token of another database). Two
    requests at once (mail providers do post twice) meet at the suppression
    list's unique key; the second then finds the first one's work and is a no-op.
    """
    try:
        return _record_opt_out(engine, message_row_id, via, source, reputation)
    except IntegrityError:
        return _record_opt_out(engine, message_row_id, via, source, reputation)


def _record_opt_out(
    engine: Engine,
    named: int | LinkTarget,
    via: str,
    source: SuppressionSource,
    reputation: ReputationLimits | None,
) -> OptOutResult | None:
    with Session(engine) as session:
        message_row_id = (
            named if isinstance(named, int) else message_row_of(session, named, Purpose.UNSUBSCRIBE)
        )
        message = None if message_row_id is None else session.get(Message, message_row_id)
        if message is None or message_row_id is None:
            return None
        enrollment = session.get_one(Enrollment, message.enrollment_id)
        workspace_id = enrollment.workspace_id
        first_time = stage_suppression(
            session,
            workspace_id,
            message.to_address,
            source.value,
            f"{via} ({message.message_id})",
        )
        already = session.exec(
            select(TrackingEvent.id).where(
                TrackingEvent.message_row_id == message_row_id, TrackingEvent.kind == source.value
            )
        ).first()
        if already is None:
            session.add(TrackingEvent(message_row_id=message_row_id, kind=source.value))
            if source is SuppressionSource.COMPLAINT and reputation is not None:
                mailbox_id = sending_mailbox_of(session, enrollment.id or 0)
                if mailbox_id is not None:
                    check_reputation(session, mailbox_id, reputation)
        stopped: list[int] = []
        workflows: list[str] = []
        for target in _sequences_to(session, workspace_id, message.to_address):
            assert target.id is not None
            if target.status == ProspectStatus.COMPLETED:
                # All steps sent; its workflow may still wait for late bounces and then
                # shows OptedOut. Nothing can be sent, so nothing to halt.
                if target.workflow_id is not None and target.reason is None:
                    workflows.append(target.workflow_id)
                continue
            if target.workflow_id is None:  # not started yet: settled here, never launched
                target.status = ProspectStatus.OPTED_OUT.value
                target.ended_at = utc_now()
            else:
                workflows.append(target.workflow_id)
            target.halt_status = target.halt_status or ProspectStatus.OPTED_OUT.value
            session.add(target)
            stopped.append(target.id)
        session.commit()
        return OptOutResult(message.to_address, first_time, stopped, workflows)


def _sequences_to(session: Session, workspace_id: int, address: str) -> list[Enrollment]:
    """The workspace's unfinished sequences whose address is ``address`` in any spelling."""
    wanted = normalise(address)
    domain = wanted.rpartition("@")[2]
    domains = GMAIL_DOMAINS if domain == "gmail.com" else {domain}
    candidates = session.exec(
        select(Enrollment)
        .where(
            Enrollment.workspace_id == workspace_id,
            col(Enrollment.status).not_in(_ENDED_EXCEPT_COMPLETED),
            col(Enrollment.to_address).is_not(None),
            or_(*(func.lower(Enrollment.to_address).like(f"%@{d}") for d in domains)),
        )
        .with_for_update()  # PostgreSQL: lock the sequences
    ).all()
    return [e for e in candidates if e.to_address and normalise(e.to_address) == wanted]


async def opt_out(
    engine: Engine,
    temporal: Client,
    message_row_id: int | LinkTarget,
    via: str,
    source: SuppressionSource = SuppressionSource.UNSUBSCRIBE,
    *,
    reputation: ReputationLimits | None = None,
) -> OptOutResult | None:
    """Record the opt-out, then tell each stopped sequence's workflow."""
    result = await asyncio.to_thread(
        record_opt_out, engine, message_row_id, via, source, reputation=reputation
    )
    if result is None:
        return None
    # The halt is recorded: a signal that fails leaves the send's last look to refuse, and
    # the workflow ends OptedOut at its next send. Nothing can go out; the listing just lags.
    await signal_each(temporal, result.workflow_ids, OPT_OUT_SIGNAL)
    return result
