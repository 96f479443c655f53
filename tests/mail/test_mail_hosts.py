"""Mailbox hosts cannot probe the server's network: names that resolve (through a real DNS
server on loopback) to non-public addresses are refused before anything connects, ports are
mail ports, and whatever answers is told in a fixed reason, never in its own words."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from outbound.devstack.dns import Zone, dns_server
from outbound.domain.statuses import TlsMode
from outbound.mail.compose import compose
from outbound.mail.hosts import CHECK_SECONDS, HostPolicy, HostRefused, Unreachable
from outbound.mail.imap import ImapAccount, ImapUnavailable, check_imap_login
from outbound.mail.smtp import SendFailed, SmtpAccount, check_login, send_message
from tests.mail.test_smtp_faults import message
from tests.support.connects import tcp_connects as tcp_connects

BANNER = b"SSH-2.0-OpenSSH_9.6 build-7 db-internal.corp.example 10.20.30.40\r\n"
INSIDE = {
    "loopback.corp.example": ("A", "127.0.0.1"),
    "private.corp.example": ("A", "10.20.30.40"),
    "link-local.corp.example": ("A", "169.254.169.254"),
    "multicast.corp.example": ("A", "239.1.2.3"),
    "mapped.corp.example": ("AAAA", "::ffff:10.0.0.1"),
    "shared.corp.example": ("A", "100.64.1.1"),
}


@pytest.fixture
async def resolver() -> AsyncIterator[HostPolicy]:
    """A strict policy whose names are answered by a DNS server on loopback."""
    zone = Zone()
    for name, (rdtype, address) in INSIDE.items():
        zone.add(name, rdtype, address)
    zone.add("mixed.corp.example", "A", "93.184.215.14", "10.0.0.7")
    async with dns_server(zone) as port:
        yield HostPolicy(nameservers=("127.0.0.1",), dns_port=port, dns_timeout_seconds=1)


@pytest.mark.parametrize("host", [*INSIDE, "mixed.corp.example", "10.1.2.3", "[::1]"])
async def test_a_host_inside_is_refused_before_anything_connects(
    host: str, resolver: HostPolicy, tcp_connects: list[object]
) -> None:
    smtp = SmtpAccount(host, 587, TlsMode.STARTTLS, "ada", "pw", hosts=resolver)
    imap = ImapAccount(host=host, port=993, tls=True, username="ada", password="pw", hosts=resolver)

    with pytest.raises(HostRefused) as smtp_refused:
        await check_login(smtp)
    with pytest.raises(HostRefused) as imap_refused:
        await check_imap_login(imap)
    with pytest.raises(SendFailed) as send_refused:
        await send_message(smtp, compose(message()))

    fixed = "the host resolves to a loopback, private, link-local or reserved address"
    assert str(smtp_refused.value) == str(imap_refused.value) == fixed
    assert send_refused.value.classified.reason == f"mail host refused: {fixed}"
    assert tcp_connects == []


@pytest.mark.parametrize("port", [22, 80, 443, 3306, 6379, 8080])
async def test_a_port_that_is_not_a_mail_port_is_refused(
    port: int, tcp_connects: list[object]
) -> None:
    public = HostPolicy(allow_private=True)  # even where private hosts are allowed

    with pytest.raises(HostRefused, match=f"port {port} is not a mail port"):
        await check_login(SmtpAccount("127.0.0.1", port, TlsMode.NONE, hosts=public))

    assert tcp_connects == []


@pytest.fixture
async def banner_server() -> AsyncIterator[int]:
    """An SSH-like server on loopback: it says who it is and waits (or hangs up)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        await writer.drain()
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_server_that_is_not_a_mail_server_is_only_could_not_connect_or_timed_out(
    banner_server: int,
) -> None:
    local = HostPolicy(allow_private=True, allow_any_port=True)
    began = time.monotonic()

    with pytest.raises(SendFailed) as smtp:
        await check_login(
            SmtpAccount("127.0.0.1", banner_server, TlsMode.NONE, "a", "p", hosts=local)
        )
    with pytest.raises(ImapUnavailable) as imap:
        await check_imap_login(
            ImapAccount(
                host="127.0.0.1",
                port=banner_server,
                tls=False,
                username="a",
                password="p",
                hosts=local,
            )
        )

    told = {smtp.value.classified.reason, str(imap.value)}
    fixed = {Unreachable.COULD_NOT_CONNECT.value, Unreachable.TIMED_OUT.value}
    assert all(reason.split(" (")[0] in fixed for reason in told), told
    assert not any("SSH" in reason or "10.20" in reason for reason in told)
    assert time.monotonic() - began < 2 * CHECK_SECONDS + 1


async def test_nothing_listening_and_tls_against_plain_text_have_their_fixed_reasons() -> None:
    local = HostPolicy(allow_private=True, allow_any_port=True)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 plain.example ESMTP\r\n")
        await writer.drain()
        await reader.read(100)
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    async with server:
        plain_port = server.sockets[0].getsockname()[1]
        with pytest.raises(SendFailed) as closed:
            await check_login(SmtpAccount("127.0.0.1", closed_port, TlsMode.NONE, hosts=local))
        with pytest.raises(SendFailed) as tls:
            await check_login(SmtpAccount("localhost", plain_port, TlsMode.TLS, hosts=local))

    assert closed.value.classified.reason == "could not connect"
    assert tls.value.classified.reason.startswith(("TLS failed", "timed out"))
