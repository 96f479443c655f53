"""Slot reservations per second for one mailbox that already holds 10,000 reservations.

    python -m bench.slot_reservations [--existing 10000] [--reservations 300]

Runs on SQLite and, when Debian's postgresql is installed, on a throwaway
PostgreSQL server. Baseline, measured in the same run on the same database:
one durable single-row insert per transaction (the floor cost of any reservation).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from sqlmodel import Session

from bench.stack import durable_insert, each_database
from outbound.accounts.members import add_workspace
from outbound.domain.schedule import window_from
from outbound.domain.sequence import ReserveSlotRequest
from outbound.scheduling.slots import MailboxCalendar
from outbound.scheduling.windows import local_date
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.slots import mailbox_limits, reserve_slot
from outbound.store.tables import Campaign, Enrollment, Mailbox, Prospect, SlotReservation

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def prepare(engine: Engine, existing: int, new: int) -> tuple[int, list[int]]:
    """A mailbox (50/day, 5 min gap, Mon–Fri 9–17 Berlin) with ``existing`` reservations."""
    with Session(engine) as session:
        workspace_id, owner = add_workspace(session, f"bench-{uuid.uuid4().hex[:8]}", None)
        mailbox = Mailbox(
            workspace_id=workspace_id,
            smtp_host="h",
            smtp_port=25,
            tls_mode="none",
            from_address="a@example.com",
            time_zone="Europe/Berlin",
            daily_limit=50,
            min_gap_seconds=300,
        )
        session.add(mailbox)
        session.flush()
        campaign = Campaign(
            workspace_id=workspace_id,
            name="b",
            owner_user_id=owner,
            mailbox_id=mailbox.id or 0,
            status="InProgress",
            grace_seconds=0,
        )
        session.add(campaign)
        session.flush()
        prospects = [Prospect(workspace_id=workspace_id) for _ in range(existing + new)]
        session.add_all(prospects)
        session.flush()
        enrollments = [
            Enrollment(
                workspace_id=workspace_id,
                campaign_id=campaign.id or 0,
                prospect_id=p.id or 0,
                status="Active",
            )
            for p in prospects
        ]
        session.add_all(enrollments)
        session.flush()
        calendar = MailboxCalendar.of(mailbox_limits(mailbox), [])
        rows = [
            {
                "key": f"{e.id}:1:1",
                "mailbox_id": mailbox.id,
                "enrollment_id": e.id,
                "position": 1,
                "slot_at": (slot := calendar.reserve(START)),
                "slot_day": local_date(slot, "Europe/Berlin"),
                "reserved_at": START,
            }
            for e in enrollments[:existing]
        ]
        session.execute(insert(SlotReservation), rows)
        session.commit()
        return mailbox.id or 0, [e.id or 0 for e in enrollments[existing:]]


def rate(operations: int, action: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for index in range(operations):
        action(index)
    return operations / (time.perf_counter() - started)


def measure(engine: Engine, existing: int, reservations: int) -> tuple[float, float]:
    mailbox_id, enrollment_ids = prepare(engine, existing, reservations)
    window = window_from([0, 1, 2, 3, 4], "09:00", "17:00", "Europe/Berlin")

    def baseline(index: int) -> None:
        durable_insert(engine, f"baseline:{index}", mailbox_id, enrollment_ids[index], START)

    def reserve(index: int) -> None:
        reserve_slot(
            engine,
            ReserveSlotRequest(
                key=f"{enrollment_ids[index]}:1:1",
                enrollment_id=enrollment_ids[index],
                position=1,
                mailbox_id=mailbox_id,
                to_address="p@example.com",
                not_before=START,
                window=window,
            ),
        )

    return rate(reservations, baseline), rate(reservations, reserve)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=10_000)
    parser.add_argument("--reservations", type=int, default=300)
    args = parser.parse_args()
    print(f"one mailbox, {args.existing:,} existing reservations, {args.reservations} new ones")
    for name, url in each_database():
        engine = make_engine(url)
        upgrade_schema(engine)
        baseline, reservations = measure(engine, args.existing, args.reservations)
        engine.dispose()
        print(
            f"{name:>10}: {reservations:8.1f} reservations/s   baseline (durable insert) "
            f"{baseline:8.1f}/s   ratio {reservations / baseline:.2f}"
        )


if __name__ == "__main__":
    main()
