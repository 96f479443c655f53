"""A campaign's prospects as CSV: who, where they stand, and what they did.

Cells a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, tab or CR) get a leading apostrophe: prospect fields come from
imported lists, and an export must not turn into a formula injection. So a
phone number (E.164, ``+14155550123``) shows as ``'+14155550123``: text, not
a number a spreadsheet would strip of its ``+`` (the CSV import reads it back).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime

from sqlmodel import Session, col, select

from outbound.domain.statuses import MessageStatus, ProspectStatus, StepKind
from outbound.store.prospects import phones_of
from outbound.store.tables import Enrollment, Message, Prospect, Step, TrackingEvent
from outbound.tracking.metrics import replied_to

COLUMNS = (
    "prospect_id",
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "status",
    "reason",
    "current_step",
    "steps_sent",
    "last_sent_at",
    "bounced",
    "opens",
    "clicks",
    "replied_at",
    "opted_out_at",
    "complained_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PAGE = 1000


def export_rows(session: Session, campaign_id: int) -> Iterator[list[str]]:
    """The header, then one row per prospect (in enrollment order), a page at a time;
    ``phone`` is the prospect's first number in relevance order.

    A campaign with sms steps adds ``sms_to`` (the number its texts went to) and one
    ``sms_step_N`` column per sms step: that text's status (Queued, Sending, Sent,
    Delivered, AssumedDelivered, Failed, OptedOut), or Replied when the prospect's reply
    answered it (it was the last message sent before the reply); empty: not sent.
    """
    texts = [
        position
        for position in session.exec(
            select(Step.position)
            .where(Step.campaign_id == campaign_id, Step.kind == StepKind.SMS.value)
            .order_by(col(Step.position))
        )
    ]
    yield [*COLUMNS, *(["sms_to"] if texts else []), *(f"sms_step_{n}" for n in texts)]
    last_id = 0
    while True:
        page = list(
            session.exec(
                select(Enrollment, Prospect)
                .join(Prospect)
                .where(Enrollment.campaign_id == campaign_id, col(Enrollment.id) > last_id)
                .order_by(col(Enrollment.id))
                .limit(_PAGE)
            )
        )
        if not page:
            return
        last_id = page[-1][0].id or last_id
        ids = [e.id for e, _ in page if e.id is not None]
        messages = _messages(session, ids)
        hits = _hits(session, [m.id for rows in messages.values() for m in rows if m.id])
        phones = phones_of(session, list({e.prospect_id for e, _ in page}))
        first_phone = {pid: rows[0].number for pid, rows in phones.items() if rows}
        for enrollment, prospect in page:
            assert enrollment.id is not None
            sent = [m for m in messages[enrollment.id] if m.sent_at is not None]
            kinds: Counter[str] = Counter()
            opted_out_at = complained_at = None
            for message in messages[enrollment.id]:
                for kind, at in hits.get(message.id or 0, []):
                    kinds[kind] += 1
                    if kind in ("unsubscribe", "complaint"):
                        opted_out_at = opted_out_at or at
                    if kind == "complaint":
                        complained_at = complained_at or at
            yield [
                _cell(v)
                for v in (
                    enrollment.prospect_id,
                    prospect.first_name,
                    prospect.last_name,
                    prospect.company,
                    prospect.title,
                    enrollment.to_address,
                    first_phone.get(enrollment.prospect_id),
                    enrollment.status,
                    enrollment.reason,
                    enrollment.current_step,
                    len({m.position for m in sent}),
                    max((m.sent_at for m in sent if m.sent_at), default=None),
                    any(m.status == MessageStatus.BOUNCED for m in messages[enrollment.id]),
                    kinds["open"],
                    kinds["click"],
                    enrollment.replied_at,
                    opted_out_at,
                    complained_at,
                    *(_sms_cells(enrollment, messages[enrollment.id], texts) if texts else []),
                )
            ]


def _sms_cells(enrollment: Enrollment, messages: list[Message], texts: list[int]) -> list[object]:
    """``sms_to`` and each sms step's outcome for one prospect (see ``export_rows``)."""
    by_position = {m.position: m for m in messages if m.channel == "sms"}
    answered = None
    if enrollment.replied_at is not None:
        sent = [(m.sent_at, m.position) for m in messages if m.sent_at is not None]
        answered = replied_to(sent, enrollment.replied_at)
    cells: list[object] = [next((m.to_address for m in by_position.values()), None)]
    for position in texts:
        message = by_position.get(position)
        if message is None:
            cells.append(None)
        elif position == answered:
            cells.append(ProspectStatus.REPLIED.value)
        else:
            cells.append(message.status)
    return cells


def export_csv(session: Session, campaign_id: int) -> Iterator[str]:
    """The rows as CSV text, chunk by chunk (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in export_rows(session, campaign_id):
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _messages(session: Session, enrollment_ids: list[int]) -> dict[int, list[Message]]:
    found: dict[int, list[Message]] = defaultdict(list)
    for message in session.exec(
        select(Message).where(col(Message.enrollment_id).in_(enrollment_ids))
    ):
        found[message.enrollment_id].append(message)
    return found


def _hits(session: Session, message_row_ids: list[int]) -> dict[int, list[tuple[str, datetime]]]:
    found: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    if not message_row_ids:
        return found
    rows = session.exec(
        select(TrackingEvent.message_row_id, TrackingEvent.kind, TrackingEvent.at)
        .where(col(TrackingEvent.message_row_id).in_(message_row_ids))
        .order_by(col(TrackingEvent.at))
    )
    for message_row_id, kind, at in rows:
        found[message_row_id].append((kind, at))
    return found
