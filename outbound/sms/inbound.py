"""An inbound text to one of a workspace's SMS senders: a keyword, or a prospect's reply.

The database changes first, then the sequences concerned are signalled
(``inbound.signals.signal_each``; one that has ended is fine):

- STOP (``sms.keywords``): the number is listed for the workspace (``sms_stop``) and
  every unfinished sequence of the workspace to that number (a prospect with the
  number whose campaign has SMS steps, or one that has texted it) gets
  ``sms_opted_out``: its SMS steps end ``OptedOut``. The provider sends its own
  confirmation, so the answer texts nothing.
- START: the number's ``sms_stop`` entry is lifted (a manual or other entry stays:
  the workspace put it there, not the prospect).
- HELP: the answer texts the sender's ``help_text``.
- anything else from a number the workspace has texted is a reply: each unfinished
  sequence that texted it records the halt (``Replied``, as an email reply does) and
  gets ``reply_received``. A number we never texted is recorded nowhere.

Each text reaches at most ``MAX_SEQUENCES`` sequences.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select
from temporalio.client import Client

from outbound.domain.sequence import InboundReply
from outbound.domain.sms_sequence import SmsOptOut
from outbound.domain.statuses import ProspectStatus, SuppressionSource
from outbound.inbound.signals import signal_each
from outbound.sms.keywords import Keyword, keyword_of
from outbound.sms.provider import InboundSms
from outbound.sms.webhook_auth import SenderRef
from outbound.store.suppressions import find_suppression, lift_suppression, suppress
from outbound.store.tables import Enrollment, Message, ProspectPhone, Step

SMS_OPTED_OUT_SIGNAL = "sms_opted_out"
REPLY_SIGNAL = "reply_received"
SMS_CHANNEL = "sms"  # Message.channel of a text
SMS_STEP_KIND = "sms"  # Step.kind of an SMS step (StepKind.SMS, issue 27)
MAX_SEQUENCES = 200  # sequences one inbound text is told to
SNIPPET_LENGTH = 200
_ENDED = [status.value for status in ProspectStatus if status.is_terminal]


async def handle_inbound_sms(
    engine: Engine, temporal: Client, sender: SenderRef, text: InboundSms
) -> str | None:
    """Act on a verified inbound text; returns what to text back (None: nothing)."""
    number = text.from_number.strip()
    keyword = keyword_of(text.body)
    if keyword is Keyword.HELP:
        return sender.help_text
    if keyword is Keyword.START:
        await asyncio.to_thread(lift_stop, engine, sender.workspace_id, number, text)
        return None
    if keyword is Keyword.STOP:
        workflows = await asyncio.to_thread(record_stop, engine, sender.workspace_id, number, text)
        await signal_each(
            temporal, workflows, SMS_OPTED_OUT_SIGNAL, SmsOptOut(key=text.sid, number=number)
        )
        return None
    received_at = datetime.now(UTC)
    snippet = text.body.strip()[:SNIPPET_LENGTH]
    workflows = await asyncio.to_thread(
        record_reply, engine, sender.workspace_id, number, snippet, received_at
    )
    reply = InboundReply(key=f"sms:{text.sid}", received_at=received_at, snippet=snippet)
    await signal_each(temporal, workflows, REPLY_SIGNAL, reply)
    return None


def record_stop(engine: Engine, workspace_id: int, number: str, text: InboundSms) -> list[str]:
    """List the number for the workspace; the workflows of the sequences to tell."""
    with Session(engine) as session:
        detail = f"texted {text.body.strip()[:20]!r} to {text.to_number} ({text.sid})"
        suppress(session, workspace_id, number, SuppressionSource.SMS_STOP, detail)
        prospects_with_number = select(ProspectPhone.prospect_id).where(
            ProspectPhone.workspace_id == workspace_id, ProspectPhone.number == number
        )
        campaigns_with_sms = select(Step.campaign_id).where(Step.kind == SMS_STEP_KIND)
        by_phone = session.exec(
            _unfinished(workspace_id).where(
                col(Enrollment.prospect_id).in_(prospects_with_number),
                col(Enrollment.campaign_id).in_(campaigns_with_sms),
            )
        ).all()
        texted = session.exec(_unfinished(workspace_id).where(_texted(number))).all()
        ordered = sorted({(i or 0, w) for i, w in (*by_phone, *texted) if w is not None})
        return [workflow_id for _, workflow_id in ordered][:MAX_SEQUENCES]


def lift_stop(engine: Engine, workspace_id: int, number: str, text: InboundSms) -> bool:
    """Lift the number's STOP entry; False if it had none (or another kind of entry)."""
    with Session(engine) as session:
        entry = find_suppression(session, workspace_id, number)
        if entry is None or entry.source != SuppressionSource.SMS_STOP:
            return False
        reason = f"texted {text.body.strip()[:20]!r} to {text.to_number} ({text.sid})"
        return lift_suppression(session, workspace_id, number, reason) > 0


def record_reply(
    engine: Engine, workspace_id: int, number: str, snippet: str, received_at: datetime
) -> list[str]:
    """Record the halt (Replied) on each unfinished sequence that texted ``number``; their
    workflows."""
    with Session(engine) as session:
        found = session.exec(
            select(Enrollment)
            .where(
                Enrollment.workspace_id == workspace_id,
                col(Enrollment.status).not_in(_ENDED),
                col(Enrollment.workflow_id).is_not(None),
                _texted(number),
            )
            .order_by(col(Enrollment.id))
            .limit(MAX_SEQUENCES)
        ).all()
        workflows = []
        for enrollment in found:
            if enrollment.halt_status is None:
                enrollment.halt_status = ProspectStatus.REPLIED.value
            if enrollment.replied_at is None:
                enrollment.replied_at, enrollment.reply_snippet = received_at, snippet or None
            session.add(enrollment)
            assert enrollment.workflow_id is not None
            workflows.append(enrollment.workflow_id)
        session.commit()
        return workflows


def _unfinished(workspace_id: int) -> Select[int | None, str | None]:
    """(id, workflow id) of the workspace's unfinished, started sequences."""
    return (
        select(col(Enrollment.id), col(Enrollment.workflow_id))
        .where(
            Enrollment.workspace_id == workspace_id,
            col(Enrollment.status).not_in(_ENDED),
            col(Enrollment.workflow_id).is_not(None),
        )
        .order_by(col(Enrollment.id))
        .limit(MAX_SEQUENCES)
    )


def _texted(number: str) -> ColumnElement[bool]:
    """The sequence has a text to ``number`` in the message log."""
    return col(Enrollment.id).in_(
        select(Message.enrollment_id).where(
            Message.channel == SMS_CHANNEL, Message.to_address == number
        )
    )
