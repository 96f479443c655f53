"""A 200 MB body to the inbound webhook is refused without the server's memory growing:
measured as the peak resident memory (RSS) of a real uvicorn process serving the API,
for a body with a ``Content-Length`` (refused before it is read) and for one without
(read up to the 25 MiB limit into a temporary file, then cut).

Growth measured over 28 runs of each, 14 of them beside two or four busy loops on a 2-core box:
0.0-0.4 MiB with a ``Content-Length``, 1.8-2.8 MiB without (before the spool: 25.3 MiB,
the whole limit held in memory). The bound leaves twice that for a loaded CI machine."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from outbound.api.limits import MiB

SERVER = """
import hashlib
import sys
import uvicorn
from sqlmodel import Session
from outbound.accounts.members import add_workspace
from outbound.api.app import create_public_app
from outbound.settings import Settings
from outbound.store.engine import make_engine
from outbound.store.migrate import upgrade_schema
from outbound.store.tables import Mailbox

settings = Settings(database_url=sys.argv[1])
engine = make_engine(settings.database_url)
upgrade_schema(engine)
with Session(engine) as session:  # mailbox 1 takes the webhook with the secret "s3cret"
    workspace_id, _ = add_workspace(session, "memory", None)
    session.add(Mailbox(workspace_id=workspace_id, smtp_host="smtp.example.com",
                        smtp_port=587, tls_mode="starttls",
                        from_address="ada@example.com", time_zone="UTC",
                        inbound_secret_hash=hashlib.sha256(b"s3cret").hexdigest()))
    session.commit()
app = create_public_app(settings, engine=engine, temporal=object())  # never reached: refused first
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""
HUGE = 200 * MiB
FEW_MIB = 6  # the most a refused body may grow the server's peak memory by


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of the API under uvicorn."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, f"sqlite:///{tmp_path}/api.db", str(port)]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert process.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.1)
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def peak_rss_mib(pid: int) -> float:
    """The process's resident memory at its highest so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def post(port: int, headers: str, body: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request as it streams, stopping when the server hangs up; its answer, and how
    many bytes of the body the connection took before that."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(headers.encode())
        with contextlib.suppress(OSError):
            for chunk in body:
                connection.sendall(chunk)
                sent += len(chunk)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                answer += chunk
    return answer, sent


def webhook(length: str) -> str:
    return (
        "POST /inbound/1 HTTP/1.1\r\nHost: api\r\nContent-Type: message/rfc822\r\n"
        f"Authorization: Bearer s3cret\r\n{length}\r\n"
    )


def chunks(total: int, size: int = MiB, chunked: bool = False) -> Iterator[bytes]:
    block = b"x" * size
    for _ in range(total // size):
        yield b"%x\r\n%s\r\n" % (size, block) if chunked else block


def test_a_200_mb_webhook_body_is_refused_before_it_is_read(server: tuple[int, int]) -> None:
    pid, port = server
    post(port, webhook("Content-Length: 10\r\n"), iter([b"0123456789"]))  # warm up
    before = peak_rss_mib(pid)

    declared, declared_sent = post(port, webhook(f"Content-Length: {HUGE}\r\n"), chunks(HUGE))
    after_declared = peak_rss_mib(pid)
    streamed, streamed_sent = post(
        port, webhook("Transfer-Encoding: chunked\r\n"), chunks(HUGE, chunked=True)
    )
    after_streamed = peak_rss_mib(pid)

    assert declared.startswith(b"HTTP/1.1 413") and b"at most 25 MiB" in declared
    assert streamed.startswith(b"HTTP/1.1 413") and b'"field": "body"' in streamed
    # Neither body was read to its end: the server hung up (past the limit, for the one
    # without a length) with most of the 200 MiB unsent (what was sent: socket buffers).
    assert declared_sent < 50 * MiB and streamed_sent < 50 * MiB, (declared_sent, streamed_sent)
    assert after_declared - before < FEW_MIB, (before, after_declared)
    # Without a length the body is read up to the limit, but into a temporary file.
    assert after_streamed - before < FEW_MIB, (before, after_streamed)
