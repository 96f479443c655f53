"""The database work of one send, outside Temporal: CPU, statements and commits per part.

    python -m bench.store_per_send [--sends 300]

A one-step send due at once (as in ``bench.send_throughput``) touches our own
database from four places: the address check, the slot reservation, the state
mirror (Completed; a send whose slot is later is mirrored Scheduled first, one
more mirror), and the send activity (prepare, turn and last look, hand-over,
Sent). This runs
those same functions in sequence for ``--sends`` prospects of one campaign, on
one thread (so the CPU is ours, not lock waits), and counts what each part asks
of the database. Baseline, measured in the same run on the same database: one
durable single-row insert per transaction, the least any send record can cost.
Runs on SQLite and, when Debian's postgresql is installed, on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import SecretStr
from sqlalchemy import Engine, event
from sqlmodel import Session

from bench.stack import (
    UNCAPPED,
    code_label_and_versions,
    durable_insert,
    each_database,
    git_label,
    print_table,
    when_and_where,
)
from outbound.accounts.members import add_workspace
from outbound.activities.addresses import AddressActivities
from outbound.activities.delivery import DeliveryActivities, Turn
from outbound.activities.records import RecordActivities
from outbound.domain.schedule import window_from
from outbound.domain.sequence import (
    AddressCheckRequest,
    EnrollmentState,
    ReserveSlotRequest,
    SendStepRequest,
    StepState,
)
from outbound.domain.statuses import ProspectStatus, StepStatus, ThreadMode
from outbound.mail.address_check import AddressChecker
from outbound.settings import Settings
from outbound.store.encryption import new_key
from outbound.store.engine import make_engine
from outbound.store.mailbox_slots import reserve_slot
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Campaign, Enrollment, Mailbox, Prospect, Step

T = TypeVar("T")
PARTS = ("address check", "slot", "prepare", "turn + last look")
PARTS += ("hand-over", "Sent", "mirror: Completed")


@dataclass
class Tally:
    """CPU seconds, statements and commits per part, counted by engine events."""

    cpu: Counter[str] = field(default_factory=Counter)
    statements: Counter[str] = field(default_factory=Counter)
    commits: Counter[str] = field(default_factory=Counter)
    part: str = ""

    def watch(self, engine: Engine) -> None:
        def statement(*_: Any) -> None:
            self.statements[self.part] += 1

        def commit(*_: Any) -> None:
            self.commits[self.part] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)

    def run(self, part: str, action: Callable[..., T], *arguments: Any) -> T:
        self.part = part
        began = time.process_time()
        try:
            return action(*arguments)
        finally:
            self.cpu[part] += time.process_time() - began
            self.part = ""


def campaign(engine: Engine, sends: int) -> tuple[int, list[int]]:
    """A mailbox with generous limits, a one-step campaign, ``sends`` enrollments."""
    with Session(engine) as session:
        workspace_id, owner = add_workspace(session, f"bench-{uuid.uuid4().hex[:8]}", None)
        mailbox = Mailbox(
            workspace_id=workspace_id,
            smtp_host="127.0.0.1",
            smtp_port=25,
            tls_mode="none",
            from_address="ada@hiring.example.com",
            send_days=list(range(7)),
            send_start="00:00",
            send_end="24:00",
            min_gap_seconds=0,
            daily_limit=1_000_000,
        )
        session.add(mailbox)
        session.flush()
        assert mailbox.id is not None
        started = Campaign(
            workspace_id=workspace_id,
            name="b",
            owner_user_id=owner,
            mailbox_id=mailbox.id,
            status="InProgress",
            grace_seconds=0,
        )
        session.add(started)
        session.flush()
        assert started.id is not None
        session.add(
            Step(
                campaign_id=started.id,
                position=1,
                subject="Hi {{ first_name }}",
                body="A short note.\n" * 5,
                thread_mode=ThreadMode.NEW_THREAD.value,
            )
        )
        prospects = [Prospect(workspace_id=workspace_id, first_name=f"P{i}") for i in range(sends)]
        session.add_all(prospects)
        session.flush()
        enrollments = [
            Enrollment(
                workspace_id=workspace_id,
                campaign_id=started.id,
                prospect_id=p.id or 0,
                status="Active",
            )
            for p in prospects
        ]
        session.add_all(enrollments)
        session.commit()
        return mailbox.id, [e.id or 0 for e in enrollments]


def measure(engine: Engine, url: str, sends: int) -> tuple[Tally, float]:
    """Our parts per send, and the baseline's CPU per durable insert (seconds)."""
    mailbox_id, enrollment_ids = campaign(engine, sends)
    settings = Settings(
        database_url=url,
        check_address_dns=False,
        signing_secret=SecretStr(secrets.token_urlsafe(32)),
        encryption_keys=[SecretStr(new_key())],
        **UNCAPPED,
    )
    delivery = DeliveryActivities(engine, settings)
    records = RecordActivities(engine)
    addresses = AddressActivities(engine, AddressChecker(check_dns=False))
    window = window_from(list(range(7)), "00:00", "24:00", "UTC")
    tally = Tally()
    tally.watch(engine)
    now = datetime.now(UTC)
    for enrollment_id in enrollment_ids:
        to = f"p{enrollment_id}@example.com"
        key = f"{enrollment_id}:1:1"
        check = AddressCheckRequest(enrollment_id=enrollment_id, address=to)
        tally.run("address check", addresses.suppression_note, check)
        reserve = ReserveSlotRequest(
            key=key,
            enrollment_id=enrollment_id,
            position=1,
            mailbox_id=mailbox_id,
            to_address=to,
            not_before=now,
            window=window,
        )
        slot = tally.run("slot", reserve_slot, engine, reserve)
        request = SendStepRequest(
            enrollment_id=enrollment_id,
            position=1,
            to_address=to,
            thread_mode=ThreadMode.NEW_THREAD,
            scheduled_at=slot,
            slot_key=key,
        )
        prepared = tally.run("prepare", delivery.prepare, request)
        turn = Turn(key, slot, timedelta(0))
        looked = tally.run("turn + last look", delivery.last_look, request, prepared, turn)
        assert isinstance(looked, tuple), looked
        tally.run("hand-over", delivery.mark_handed_over, prepared.message_row_id, looked[2])
        tally.run("Sent", delivery.record_sent, prepared)
        state = EnrollmentState(
            enrollment_id=enrollment_id,
            status=ProspectStatus.COMPLETED,
            current_step=1,
            to_address=to,
            steps=[StepState(position=1, status=StepStatus.SENT, sent_at=now)],
            updated_at=now,
        )
        tally.run("mirror: Completed", records.record, state)
    return tally, baseline_cpu(engine, mailbox_id, enrollment_ids)


def baseline_cpu(engine: Engine, mailbox_id: int, enrollment_ids: list[int]) -> float:
    """CPU seconds of one durable single-row insert in its own transaction."""
    at = datetime.now(UTC)
    began = time.process_time()
    for index, enrollment_id in enumerate(enrollment_ids):
        durable_insert(engine, f"baseline:{index}", mailbox_id, enrollment_id, at)
    return (time.process_time() - began) / len(enrollment_ids)


def report(name: str, tally: Tally, baseline: float, sends: int) -> None:
    def ms(seconds: float) -> str:
        return f"{1000 * seconds / sends:.2f} ms"

    rows = [
        (part, f"{tally.statements[part] / sends:.0f} / {tally.commits[part] / sends:.0f}", ms(cpu))
        for part in PARTS
        if (cpu := tally.cpu[part])
    ]
    total = sum(tally.cpu[part] for part in PARTS) / sends
    statements = sum(tally.statements[part] for part in PARTS) / sends
    commits = sum(tally.commits[part] for part in PARTS) / sends
    rows.append(("one send in all", f"{statements:.0f} / {commits:.0f}", ms(total * sends)))
    rows.append(("baseline", "a durable one-row insert", f"{1000 * baseline:.2f} ms"))
    rows.append(("ratio", "one send / baseline", f"{total / baseline:.1f}"))
    print_table(
        f"One send's database work, {name} ({sends} sends, one thread)",
        rows,
        columns=("part", "statements / commits", "CPU per send"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    for name, url in each_database():
        engine = make_engine(url)
        upgrade_schema(engine)
        tally, baseline = measure(engine, url, args.sends)
        engine.dispose()
        report(name, tally, baseline, args.sends)
    print(when_and_where((load_at_start, os.getloadavg()[0])))
    print(code_label_and_versions(git_label()))


if __name__ == "__main__":
    main()
