"""Slot reservations per second: one mailbox without rules (today's figure), and a pool
of three mailboxes with every sending rule on, each holding its share of 10,000
reservations.

    python -m bench.slot_reservations [--existing 10000] [--reservations 300]

"All rules": a campaign sending from a pool of three mailboxes (each prospect's first
slot picks the mailbox), each on a warm-up ramp (10 a day, +5 a day up to 50), with a
holiday calendar and blackout dates of its own and of the campaign, and the
workspace's per-recipient-domain caps (5 an hour and 20 a day per domain, gmail.com 2
and 10), the recipients spread over six domains. Runs on SQLite and, when Debian's
postgresql is installed, on a throwaway PostgreSQL server. Baseline, measured in the
same run on the same database: one durable single-row insert per transaction (the
floor cost of any reservation).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert
from sqlmodel import Session

from bench.stack import durable_insert, each_database
from outbound.accounts.members import add_workspace
from outbound.domain.schedule import window_from
from outbound.domain.sending_rules import DomainCap, DomainCaps
from outbound.domain.sequence import ReserveSlotRequest
from outbound.scheduling.slots import MailboxCalendar
from outbound.scheduling.windows import local_date
from outbound.store.engine import make_engine
from outbound.store.mailbox_slots import reserve_slot
from outbound.store.migrate import upgrade_schema
from outbound.store.slots import mailbox_limits
from outbound.store.tables import (
    Campaign,
    Enrollment,
    Mailbox,
    Prospect,
    SlotReservation,
    Workspace,
)

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
DOMAINS = ["gmail.com", "outlook.com", "acme.example", "globex.example", "initech.example"]
DOMAINS += ["umbrella.example"]
CAPS = DomainCaps(
    default=DomainCap(hourly=5, daily=20), named={"gmail.com": DomainCap(hourly=2, daily=10)}
)


@dataclass
class Scenario:
    """What one measurement reserves for: the first mailbox and the new enrollments."""

    mailbox_id: int
    enrollment_ids: list[int]
    caps: DomainCaps | None

    def address(self, index: int) -> str:
        return f"p{index}@{DOMAINS[index % len(DOMAINS)]}" if self.caps else "p@example.com"


def _mailbox(workspace_id: int, address: str, rules: bool) -> Mailbox:
    """50 a day, 5 min apart, Mon–Fri 9–17 Berlin (with rules: a ramp and days off)."""
    mailbox = Mailbox(
        workspace_id=workspace_id,
        smtp_host="h",
        smtp_port=25,
        tls_mode="none",
        from_address=address,
        time_zone="Europe/Berlin",
        daily_limit=50,
        min_gap_seconds=300,
    )
    if rules:
        mailbox.warmup_start = 10
        mailbox.warmup_increment = 5
        mailbox.warmup_started_on = START.date()
        mailbox.holiday_calendar = "DE-BE"
        mailbox.blackout_dates = [(START.date() + timedelta(days=d)).isoformat() for d in (3, 17)]
    return mailbox


def prepare(engine: Engine, existing: int, new: int, rules: bool) -> Scenario:
    """One mailbox (or, with rules, a pool of three) holding ``existing`` reservations."""
    with Session(engine) as session:
        workspace_id, owner = add_workspace(session, f"bench-{uuid.uuid4().hex[:8]}", None)
        if rules:
            workspace = session.get_one(Workspace, workspace_id)
            workspace.domain_hourly_cap = CAPS.default.hourly
            workspace.domain_daily_cap = CAPS.default.daily
            workspace.domain_caps = {d: c.model_dump() for d, c in CAPS.named.items()}
            session.add(workspace)
        mailboxes = [
            _mailbox(workspace_id, f"m{n}@example.com", rules) for n in range(3 if rules else 1)
        ]
        session.add_all(mailboxes)
        session.flush()
        pool = [m.id or 0 for m in mailboxes] if rules else []
        campaign = Campaign(
            workspace_id=workspace_id,
            name="b",
            owner_user_id=owner,
            mailbox_id=pool[0] if rules else mailboxes[0].id or 0,
            mailbox_pool=pool,
            status="InProgress",
            grace_seconds=0,
        )
        if rules:
            campaign.holiday_calendar = "DE"
            campaign.blackout_dates = [(START.date() + timedelta(days=9)).isoformat()]
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
                mailbox_id=mailboxes[i % len(mailboxes)].id if i < existing and rules else None,
            )
            for i, p in enumerate(prospects)
        ]
        session.add_all(enrollments)
        session.flush()
        calendars = [MailboxCalendar.of(mailbox_limits(m), []) for m in mailboxes]
        rows = []
        for index, enrollment in enumerate(enrollments[:existing]):
            mailbox = mailboxes[index % len(mailboxes)]
            slot = calendars[index % len(mailboxes)].reserve(START)
            rows.append(
                {
                    "key": f"{enrollment.id}:1:1",
                    "mailbox_id": mailbox.id,
                    "enrollment_id": enrollment.id,
                    "position": 1,
                    "slot_at": slot,
                    "slot_day": local_date(slot, "Europe/Berlin"),
                    "to_domain": DOMAINS[index % len(DOMAINS)] if rules else "example.com",
                }
            )
        session.execute(insert(SlotReservation), rows)
        session.commit()
        return Scenario(
            mailboxes[0].id or 0,
            [e.id or 0 for e in enrollments[existing:]],
            CAPS if rules else None,
        )


def rate(operations: int, action: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for index in range(operations):
        action(index)
    return operations / (time.perf_counter() - started)


def reservations_per_second(engine: Engine, scenario: Scenario) -> tuple[float, list[datetime]]:
    window = window_from([0, 1, 2, 3, 4], "09:00", "17:00", "Europe/Berlin")
    slots: list[datetime] = []

    def reserve(index: int) -> None:
        enrollment_id = scenario.enrollment_ids[index]
        request = ReserveSlotRequest(
            key=f"{enrollment_id}:1:1",
            enrollment_id=enrollment_id,
            position=1,
            mailbox_id=scenario.mailbox_id,
            to_address=scenario.address(index),
            not_before=START,
            window=window,
        )
        slots.append(reserve_slot(engine, request, scenario.caps))

    return rate(len(scenario.enrollment_ids), reserve), slots


def measure(engine: Engine, existing: int, reservations: int) -> tuple[float, float, float]:
    """(baseline inserts/s, one mailbox without rules/s, a pool with all rules/s)."""
    plain = prepare(engine, existing, reservations, rules=False)
    pool = prepare(engine, existing, reservations, rules=True)

    def baseline(index: int) -> None:
        durable_insert(
            engine, f"baseline:{index}", plain.mailbox_id, plain.enrollment_ids[0], START
        )

    floor = rate(reservations, baseline)
    today, _ = reservations_per_second(engine, plain)
    all_rules, slots = reservations_per_second(engine, pool)
    assert len(set(slots)) > 1 and all(isinstance(s, datetime) for s in slots)
    return floor, today, all_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=10_000)
    parser.add_argument("--reservations", type=int, default=300)
    args = parser.parse_args()
    print(f"{args.existing:,} existing reservations, {args.reservations} new ones")
    for name, url in each_database():
        engine = make_engine(url)
        upgrade_schema(engine)
        floor, today, all_rules = measure(engine, args.existing, args.reservations)
        engine.dispose()
        print(
            f"{name:>10}: one mailbox, no rules {today:8.1f}/s   "
            f"pool of 3, all rules {all_rules:8.1f}/s ({all_rules / today:.2f} × today)   "
            f"baseline (durable insert) {floor:8.1f}/s"
        )


if __name__ == "__main__":
    main()
