"""The schedule preview of a large campaign, beside the day-by-day search it replaced.

    python -m bench.schedule_preview [--prospects 20000]

A mailbox as the README's defaults have it (50 a day, 5 minutes apart, Mon–Fri
09:00–17:00, Europe/Berlin), already holding a week of another campaign's
reservations (250, from the Monday the preview starts), and a 2-step campaign
(a follow-up 3 days later) to N prospects, in SQLite. Measured:
``schedule_preview`` as ``GET /campaigns/{id}/schedule-preview`` runs it
(reading the store, the forecast, the answer's first 100 prospects).
Baseline, in the same run on the same database: the same preview with the
mailbox calendar's search as it was before issue 23 (tests/support/
walking_calendar.py), which walked past every full day and every taken slot
one at a time; at 20,000 prospects that took 85–146 s through the API. Both
must give the same answer, and the report says whether they did.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from bench import slot_reservations
from bench.stack import code_label_and_versions, git_label, print_table, say, when_and_where
from outbound.campaigns.preview import preview_inputs, preview_of, schedule_preview
from outbound.domain.views import SchedulePreview
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Campaign, Enrollment, Mailbox, Membership, Prospect, Step
from tests.support.walking_calendar import WalkingCalendar

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Berlin
SHOWN = 100  # the API's default number of prospects listed
EXISTING = 250  # a week of another campaign's sends at 50 a day


@dataclass
class Figures:
    prospects: int
    seconds: float
    baseline_seconds: float
    same_answer: bool
    summary: str

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / self.seconds


def prepare(engine: Engine, prospects: int) -> int:
    """The mailbox with a week of another campaign's reservations (bench.slot_reservations
    builds it), and the campaign to preview; returns the campaign's id."""
    mailbox_id, _ = slot_reservations.prepare(engine, existing=EXISTING, new=0)
    with Session(engine) as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
        owner = session.exec(select(Membership.user_id)).first() or 0
        campaign = Campaign(
            workspace_id=mailbox.workspace_id,
            name="Preview",
            owner_user_id=owner,
            mailbox_id=mailbox_id,
            status="Ready",
            grace_seconds=1200,
        )
        session.add(campaign)
        session.flush()
        for position, delay_days, thread_mode in ((1, 0, "new_thread"), (2, 3, "same_thread")):
            session.add(
                Step(
                    campaign_id=campaign.id or 0,
                    position=position,
                    subject=f"Step {position}",
                    body="Hello",
                    delay_days=delay_days,
                    thread_mode=thread_mode,
                )
            )
        first = session.exec(select(func.max(Prospect.id))).one() or 0
        session.execute(
            insert(Prospect),
            [
                {"workspace_id": mailbox.workspace_id, "first_name": f"P{i}", "fields": {}}
                for i in range(prospects)
            ],
        )
        people = session.exec(select(Prospect.id).where(col(Prospect.id) > first)).all()
        session.execute(
            insert(Enrollment),
            [
                {
                    "workspace_id": mailbox.workspace_id,
                    "campaign_id": campaign.id,
                    "prospect_id": pid,
                    "status": "NotStarted",
                }
                for pid in people
            ],
        )
        session.commit()
        return campaign.id or 0


def timed(action: Callable[[], SchedulePreview]) -> tuple[float, SchedulePreview]:
    began = time.perf_counter()
    answer = action()
    return time.perf_counter() - began, answer


def run(prospects: int) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'outbound.db'}")
        upgrade_schema(engine)
        campaign_id = prepare(engine, prospects)
        say(f"schedule preview of {prospects:,} prospects")
        seconds, ours = timed(lambda: schedule_preview(engine, campaign_id, START, SHOWN))
        say(f"the same with the day-by-day search (before issue 23); ours took {seconds:.1f} s")
        baseline_seconds, theirs = timed(
            lambda: preview_of(
                preview_inputs(engine, campaign_id, START), SHOWN, calendar=WalkingCalendar.of
            )
        )
        engine.dispose()
    return Figures(prospects, seconds, baseline_seconds, ours == theirs, ours.summary)


def report(figures: Figures, code_label: str, load: tuple[float, float]) -> None:
    rows = [
        (
            "preview",
            f"{figures.prospects:,} prospects × 2 steps, as the API answers",
            f"{figures.seconds:.2f} s",
        ),
        (
            "baseline",
            "the same, with the day-by-day search (before issue 23)",
            f"{figures.baseline_seconds:.2f} s",
        ),
        ("ratio", "baseline / preview", f"{figures.ratio:,.0f}"),
        (
            "check",
            "the same answer (summary, steps, first prospects)",
            "yes" if figures.same_answer else "NO",
        ),
    ]
    print_table(
        f"Schedule preview, {figures.prospects:,} prospects",
        rows,
        [f"summary: {figures.summary}", when_and_where(load), code_label_and_versions(code_label)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=20_000)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    figures = run(args.prospects)
    report(figures, git_label(), (load_at_start, os.getloadavg()[0]))
    if not figures.same_answer:
        raise SystemExit("the preview and its baseline disagree")


if __name__ == "__main__":
    main()
