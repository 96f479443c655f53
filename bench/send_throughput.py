"""Sends per second of a one-step campaign, beside raw SMTP and the bare Temporal floor.

    python -m bench.send_throughput [--prospects 1000] [--mailboxes 10] [--workers 2]

The embedded stack of ``bench.stack`` (dev server with its database file,
SQLite, the aiosmtpd sink, a loopback DNS server for the address check, the
worker as its own process, the API in this process). Three measurements, each
counted at the sink by recipient, in this order:

* (b) the bare Temporal floor: N trivial workflows, each running one activity
  that sends one message with aiosmtplib (new connection), started with
  ``client.start_workflow`` at the product's start concurrency, served by as
  many worker processes of their own as the product has. This is what any
  Temporal design pays per send on this server; it runs first, so the product
  meets a dev server database that already holds N finished workflows (a
  handicap for the product, not for the floor).
* the product: one-step campaigns to N prospects in all, with no grace delay, a
  window open all week and limits far above N, started through the API; from
  Start until the sink holds N messages, then until the database shows every
  prospect Completed. The prospects are split over ten campaigns, one mailbox
  each (``--mailboxes``): the product spreads each mailbox's sends over its
  window (PRODUCT.md rule 5), which paces one mailbox at 11.6 sends/s at most
  (``spread_ceiling``), and this benchmark measures the pipeline, not that.
  Reported too: the events in one prospect's history against the floor's,
  which is what the pipeline adds per send in Temporal. The worker's workflow
  cache holds every sequence, as ``OUTBOUND_WORKER_MAX_CACHED_WORKFLOWS``
  advises (at the default of 1,000, a run of 2,000 replayed the evicted
  sequences from their histories and used 38 ms of worker CPU per send, not 33).
* busy cores in each phase: CPU seconds over wall seconds of the workers, the
  dev server and this process. One Python worker process runs one thread of
  Python at a time, so one worker near 1.0 is the bottleneck. Both phases run
  ``--workers`` processes, two by default as the docker-compose file does: at
  1,000 prospects one worker sent 32–35/s, two 36–39/s, once SQLite writers
  took turns across processes (``outbound.store.sqlite_writers``).
* (a) raw aiosmtplib from this process, a new connection per message, 16 at a
  time: the physical limit of the sink on this machine.

Every run also checks what the product promises: each prospect got exactly one
message (counted by recipient and by Message-ID).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

from bench.stack import (
    Child,
    cancelled_on_sigterm,
    code_label_and_versions,
    cpu_seconds,
    deadline_for,
    embedded_stack,
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
from outbound.devstack.run import DevStackConfig
from outbound.domain.schedule import window_from
from outbound.scheduling.slots import MailboxLimits
from tests.support.factories import CONSENT

CHUNK = 1_000  # prospects per POST /campaigns/{id}/prospects
RAW_CONCURRENCY = 16
DAILY_LIMIT = 1_000_000  # the most the API takes
MAILBOXES = 10  # together paced at 116 sends/s: well above what the floor reaches here
WORKERS = DevStackConfig.workers  # worker processes in each phase, as outbound dev runs
FLOOR_WORKFLOW = "BenchSendOne"
PRODUCT_DOMAIN = "bench.example.com"
FLOOR_DOMAIN = "floor.example.com"
RAW_DOMAIN = "raw.example.com"


def one_message(recipient: str) -> EmailMessage:
    """About the size of a short outreach email."""
    message = EmailMessage()
    message["From"] = "ada@hiring.example.com"
    message["To"] = recipient
    message["Subject"] = "Hi there"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@hiring.example.com>"
    message.set_content("A short note about a role you might like.\n" * 5)
    return message


@activity.defn(name="bench_send_one")
async def send_one(port_and_recipient: list[str]) -> None:
    """The floor's only activity: one message, one new connection."""
    port, recipient = port_and_recipient
    await aiosmtplib.send(one_message(recipient), hostname="127.0.0.1", port=int(port))


@workflow.defn(name=FLOOR_WORKFLOW)
class SendOneWorkflow:
    """The floor's workflow: run the one activity, done."""

    @workflow.run
    async def run(self, port_and_recipient: list[str]) -> None:
        await workflow.execute_activity(
            "bench_send_one",
            port_and_recipient,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


@dataclass
class Usage:
    """What the processes used over one phase (its setup included)."""

    # CPU seconds: (worker or workers, dev server, this process: API or starter, and sink)
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall: float = 0.0  # seconds

    def per_send(self, n: int) -> str:
        """ "worker / dev server / API and sink" milliseconds of CPU per message."""
        return " / ".join(f"{1000 * seconds / n:,.0f}" for seconds in self.cpu) + " ms"

    def busy_cores(self) -> str:
        """ "worker / dev server / API and sink" CPU seconds per wall second of the phase."""
        return " / ".join(f"{cpu / self.wall:.2f}" for cpu in self.cpu) if self.wall else "-"


@dataclass
class Figures:
    """Seconds unless named otherwise."""

    n: int
    mailboxes: int = MAILBOXES
    workers: int = WORKERS  # worker processes serving the product, and the floor
    floor: float = 0.0
    product_sent: float = 0.0
    product_completed: float = 0.0
    start_answered: float = 0.0
    raw: float = 0.0
    product_events: int = 0
    floor_events: int = 0
    worker_cache: int = 0  # the worker's max_cached_workflows
    product_usage: Usage = field(default_factory=Usage)
    floor_usage: Usage = field(default_factory=Usage)
    duplicates: list[str] = field(default_factory=list)
    server_log: str = ""
    worker_log: str = ""
    load: tuple[float, float] = (0.0, 0.0)

    def rate(self, seconds: float) -> float:
        return self.n / seconds if seconds else 0.0


def delivered_to(handler: FaultSinkHandler, domain: str) -> int:
    return sum(1 for got in handler.received for to in got.envelope_to if to.endswith(f"@{domain}"))


async def measure_floor(
    client: Client, task_queue: str, sink_port: int, handler: FaultSinkHandler, figures: Figures
) -> None:
    """(b): N workflows of one sending activity each."""
    n = figures.n
    semaphore = asyncio.Semaphore(_START_CONCURRENCY)
    prefix = f"bench-send-{uuid.uuid4().hex[:8]}"

    async def start_one(index: int) -> None:
        async with semaphore:
            await client.start_workflow(
                FLOOR_WORKFLOW,
                [str(sink_port), f"f{index}@{FLOOR_DOMAIN}"],
                id=f"{prefix}-{index}",
                task_queue=task_queue,
            )

    began = time.perf_counter()
    await asyncio.gather(*(start_one(i) for i in range(n)))
    figures.floor = await poll_until(
        began,
        _now(lambda: delivered_to(handler, FLOOR_DOMAIN)),
        lambda got: got >= n,
        "the floor's N messages at the sink",
        deadline_for(n),
    )
    figures.floor_events = await history_length(client, f"{prefix}-0")


def spread_ceiling(daily_limit: int) -> float:
    """Sends per second one mailbox can make at most: its day's limit spread over the window.

    PRODUCT.md rule 5 spreads a mailbox's sends over its window (slots at least
    ``window / daily_limit`` apart, ``outbound.scheduling.slots``), so even the
    largest limit the API takes, over a 24-hour window, paces one mailbox at
    11.6 sends per second. A single-mailbox benchmark would measure that pacing,
    not the pipeline, on any machine faster than it.
    """
    limits = MailboxLimits(
        zone_name="UTC",
        daily_limit=daily_limit,
        min_gap=timedelta(0),
        window=window_from(list(range(7)), "00:00", "24:00", "UTC").to_window(),
    )
    return 1 / limits.spacing.total_seconds()


async def measure_product(
    api: httpx.AsyncClient,
    temporal: Client,
    worker: Child,
    sink_port: int,
    handler: FaultSinkHandler,
    figures: Figures,
) -> None:
    """The product: Start through the API until every prospect's message is at the sink.

    The N prospects are split over ``figures.mailboxes`` one-step campaigns, one
    mailbox each (a team's recruiters, each with their own mailbox), all started
    at once, so that the mailboxes' pacing (``spread_ceiling``) is not what is
    measured.
    """
    n = figures.n
    campaign_ids = [
        await one_campaign(api, sink_port, index, range(index, n, figures.mailboxes))
        for index in range(figures.mailboxes)
    ]
    began = time.perf_counter()
    answers = await asyncio.gather(
        *(api.post(f"/campaigns/{campaign_id}/start", json=CONSENT) for campaign_id in campaign_ids)
    )
    figures.start_answered = time.perf_counter() - began
    for answer in answers:
        if answer.status_code != 202:
            raise RuntimeError(f"Start: {answer.status_code} {answer.text}")
    figures.product_sent = await poll_until(
        began,
        _now(lambda: delivered_to(handler, PRODUCT_DOMAIN)),
        lambda got: got >= n,
        "the campaigns' N messages at the sink",
        deadline_for(n) * 2,
        worker,
    )

    async def completed() -> int:
        views = [
            await api.get(f"/campaigns/{campaign_id}", params={"limit": 1})
            for campaign_id in campaign_ids
        ]
        return sum(int(view.json()["counts"].get("Completed", 0)) for view in views)

    figures.product_completed = await poll_until(
        began, completed, lambda done: done >= n, "N prospects Completed", deadline_for(n), worker
    )
    listing = await api.get(f"/campaigns/{campaign_ids[0]}", params={"limit": 1})
    figures.product_events = await history_length(
        temporal, listing.json()["prospects"][0]["workflow_id"]
    )


async def one_campaign(api: httpx.AsyncClient, sink_port: int, index: int, prospects: range) -> int:
    """A mailbox with limits far above the run, and a one-step campaign from it to ``prospects``."""
    mailbox = await api.post(
        "/mailboxes",
        json={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink_port,
            "tls_mode": "none",
            "from_address": f"recruiter{index}@hiring.example.com",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_start": "00:00",
            "send_end": "24:00",
            "min_gap_seconds": 0,
            "daily_limit": DAILY_LIMIT,
        },
    )
    mailbox.raise_for_status()
    campaign = await api.post(
        "/campaigns",
        json={
            "name": f"Throughput {index}",
            "mailbox_id": mailbox.json()["id"],
            "grace_seconds": 0,
            "steps": [{"subject": "Hi {{ first_name }}", "body": "A short note.\n" * 5}],
        },
    )
    campaign.raise_for_status()
    campaign_id: int = campaign.json()["id"]
    for first in range(0, len(prospects), CHUNK):
        people = [
            {"first_name": f"P{i}", "addresses": [{"address": f"p{i}@{PRODUCT_DOMAIN}"}]}
            for i in prospects[first : first + CHUNK]
        ]
        added = await api.post(f"/campaigns/{campaign_id}/prospects", json=people)
        if added.status_code != 201:
            raise RuntimeError(f"adding prospects: {added.status_code} {added.text}")
    return campaign_id


async def measure_raw(sink_port: int, handler: FaultSinkHandler, figures: Figures) -> None:
    """(a): aiosmtplib straight to the sink, a new connection per message."""
    n = figures.n
    semaphore = asyncio.Semaphore(RAW_CONCURRENCY)

    async def send(index: int) -> None:
        async with semaphore:
            await aiosmtplib.send(
                one_message(f"r{index}@{RAW_DOMAIN}"), hostname="127.0.0.1", port=sink_port
            )

    began = time.perf_counter()
    await asyncio.gather(*(send(i) for i in range(n)))
    figures.raw = time.perf_counter() - began
    if delivered_to(handler, RAW_DOMAIN) != n:
        raise RuntimeError("raw sends: the sink did not get every message")


def cpu_used(workers: list[Child], server: Child) -> tuple[float, float, float]:
    """CPU seconds so far of the workers, the dev server and this process (API and sink)."""
    mine = os.times()
    worker_seconds = sum(cpu_seconds(worker.pid) for worker in workers)
    return worker_seconds, cpu_seconds(server.pid), mine.user + mine.system


@contextlib.contextmanager
def measured_usage(usage: Usage, workers: list[Child], server: Child) -> Iterator[None]:
    """Fill ``usage`` with the CPU and wall seconds the block took."""
    began_cpu, began = cpu_used(workers, server), time.perf_counter()
    yield
    now = cpu_used(workers, server)
    usage.cpu = (now[0] - began_cpu[0], now[1] - began_cpu[1], now[2] - began_cpu[2])
    usage.wall = time.perf_counter() - began


def find_duplicates(handler: FaultSinkHandler) -> list[str]:
    """Recipients or Message-IDs of the product's messages seen more than once."""
    product = [got for got in handler.received if got.envelope_to[0].endswith(PRODUCT_DOMAIN)]
    by_recipient = Counter(got.envelope_to[0] for got in product)
    by_message_id = Counter(str(got.message["Message-ID"]) for got in product)
    return [key for key, seen in (by_recipient + by_message_id).items() if seen > 1]


async def history_length(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


def _now(count: Callable[[], int]) -> Callable[[], Awaitable[int]]:
    """An in-memory count as the awaitable probe ``poll_until`` takes."""

    async def probe() -> int:
        return int(count())

    return probe


async def serve_floor(address: str, task_queue: str) -> None:
    """The floor's worker process, until SIGTERM."""
    from bench.send_throughput import SendOneWorkflow as Floor
    from bench.send_throughput import send_one as floor_send

    await serve_until_sigterm(address, task_queue, [Floor], [floor_send])


async def run(n: int, mailboxes: int = MAILBOXES, workers: int = WORKERS) -> Figures:
    figures = Figures(n=n, mailboxes=mailboxes, workers=workers)
    load_at_start = os.getloadavg()[0]
    handler = FaultSinkHandler()
    async with embedded_stack(handler, prefix="bench-send", open_sequences=n) as stack:
        figures.worker_cache = stack.settings.worker_max_cached_workflows
        address = stack.settings.temporal_address
        floor_queue = f"bench-floor-{uuid.uuid4().hex[:8]}"
        floor_workers = [
            stack.start_child(
                [
                    *(sys.executable, "-m", "bench.send_throughput", "--serve-floor", floor_queue),
                    *("--temporal-address", address),
                ],
                f"floor-worker-{number}.log",
            )
            for number in range(1, workers + 1)
        ]
        await wait_for_pollers(
            stack.temporal, floor_queue, floor_workers[0], activities=True, workers=workers
        )
        say(f"(b) the floor: {n:,} workflows of one send")
        with measured_usage(figures.floor_usage, floor_workers, stack.server):
            await measure_floor(stack.temporal, floor_queue, stack.sink_port, handler, figures)
        say(f"floor: {figures.floor:.1f} s; the product: {mailboxes} campaigns to {n:,} in all")
        for _ in range(workers - 1):
            await stack.add_worker()
        with measured_usage(figures.product_usage, stack.workers, stack.server):
            await measure_product(
                stack.api, stack.temporal, stack.worker, stack.sink_port, handler, figures
            )
        say(f"product: {figures.product_sent:.1f} s; (a) raw aiosmtplib")
        await measure_raw(stack.sink_port, handler, figures)
        figures.server_log, figures.worker_log = stack.complaints()
    figures.duplicates = find_duplicates(handler)
    figures.load = (load_at_start, os.getloadavg()[0])
    return figures


def report(figures: Figures, code_label: str) -> None:
    n = figures.n
    ours = figures.rate(figures.product_sent)
    floor = figures.rate(figures.floor)
    raw = figures.rate(figures.raw)
    ceiling = figures.mailboxes * spread_ceiling(DAILY_LIMIT)
    workers = "worker" if figures.workers == 1 else f"{figures.workers} workers"
    rows = [
        (
            "product",
            f"{figures.mailboxes} mailboxes' pacing allows at most",
            f"{ceiling:,.1f}/s",
        ),
        (
            "product",
            "worker's workflow cache (every sequence stays in it)",
            f"{figures.worker_cache:,}",
        ),
        ("product", "API answered Start", f"{figures.start_answered:,.2f} s"),
        ("product", f"sink holds all {n:,} messages", f"{figures.product_sent:,.2f} s"),
        ("product", f"database shows {n:,} Completed", f"{figures.product_completed:,.2f} s"),
        ("product", "sends per second, end to end", f"{ours:,.1f}/s"),
        ("product", "events in one prospect's history", str(figures.product_events)),
        (
            "product",
            f"CPU per send: {workers} / dev server / API and sink",
            figures.product_usage.per_send(n),
        ),
        (
            "product",
            f"busy cores: {workers} / dev server / API and sink",
            figures.product_usage.busy_cores(),
        ),
        ("(b) floor", f"{n:,} workflows of one send activity", f"{figures.floor:,.2f} s"),
        ("(b) floor", "sends per second", f"{floor:,.1f}/s"),
        ("(b) floor", "events in one workflow's history", str(figures.floor_events)),
        (
            "(b) floor",
            f"CPU per send: {workers} / dev server / starter and sink",
            figures.floor_usage.per_send(n),
        ),
        (
            "(b) floor",
            f"busy cores: {workers} / dev server / starter and sink",
            figures.floor_usage.busy_cores(),
        ),
        (
            "(a) raw",
            f"{n:,} aiosmtplib sends, {RAW_CONCURRENCY} at a time",
            f"{figures.raw:,.2f} s",
        ),
        ("(a) raw", "sends per second", f"{raw:,.1f}/s"),
        ("ratio", "product / (b) floor (target ≥ 0.7)", f"{ours / floor:.2f}"),
        ("ratio", "product / (a) raw (target ≥ 0.25)", f"{ours / raw:.2f}"),
        ("ratio", "(b) floor / (a) raw", f"{floor / raw:.2f}"),
    ]
    print_table(
        f"Send throughput, one-step campaigns to {n:,} prospects (embedded stack, SQLite)",
        rows,
        [
            *(
                ["NOTE: near the mailboxes' pacing; rerun with more --mailboxes"]
                if ours > 0.7 * ceiling
                else []
            ),
            "every prospect got exactly one message"
            if not figures.duplicates
            else f"DUPLICATES at the sink: {figures.duplicates[:5]}",
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
    parser.add_argument("--prospects", type=int, default=1_000)
    parser.add_argument(
        "--mailboxes",
        type=int,
        default=MAILBOXES,
        help="split the prospects over this many one-step campaigns, one mailbox each",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help="worker processes serving the product, and as many serving the floor",
    )
    parser.add_argument("--serve-floor", metavar="TASK_QUEUE", help=argparse.SUPPRESS)
    parser.add_argument("--temporal-address", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code-label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        asyncio.run(serve_floor(args.temporal_address, args.serve_floor))
        return
    if args.snapshot is None:
        run_in_snapshot("bench.send_throughput")  # does not return
    try:
        measured = run(args.prospects, args.mailboxes, args.workers)
        figures = asyncio.run(cancelled_on_sigterm(measured))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; the dev server and workers were stopped")
        sys.exit(130)
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    report(figures, args.code_label)
    if figures.duplicates:
        sys.exit(1)


if __name__ == "__main__":
    main()
