"""A real DNS server on loopback UDP, answering from a small zone (dnspython's wire format).

``outbound dev`` runs one so that the address check before each first send
(MX lookup, ``outbound/mail/address_check.py``) answers for the domains the
README and tests use, on any machine, connected or not: the names RFC 2606
reserves for examples (``example``, ``example.com``, ``example.net``,
``example.org`` and everything below them) have a mail server (``localhost``:
in the dev stack every message goes to the local sink anyway). Other names
are passed on to the machine's own resolver, so a real domain is checked as in
production; ``outbound dev --offline`` answers them REFUSED instead, which the
address check reports as ``unverified`` (and sends). ``.test`` and ``.invalid``
addresses never get this far: the syntax check refuses them.

Tests use the same server with zones they write (``Zone``), so the address
checker talks real DNS (the same resolver code as production), not a mock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

EXAMPLE_DOMAINS = ("example.", "example.com.", "example.net.", "example.org.")
FORWARD_TIMEOUT_SECONDS = 2.0


@dataclass
class Zone:
    """Records by (name, type); ``missing`` names answer NXDOMAIN, ``silent`` ones never answer.

    With ``default_mx`` set, any other name asked for MX gets that answer, so
    end-to-end tests can use made-up domains freely. ``domains`` limits the
    zone to those names and the names below them: any other name is asked of
    ``upstream`` (the machine's resolvers), or refused when there is none.
    """

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    default_mx: str | None = None
    domains: tuple[str, ...] | None = None
    upstream: list[str] = field(default_factory=list)
    upstream_port: int = 53

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((_absolute(name), rdtype), []).extend(values)

    def is_ours(self, name: str) -> bool:
        known = any(key[0] == name for key in self.records)
        return self.domains is None or known or _under(name, self.domains)


def dev_zone(*, offline: bool = False) -> Zone:
    """The dev stack's zone: the example domains have mail, the rest is asked of this
    machine's resolvers (none when ``offline``)."""
    return Zone(
        default_mx="10 localhost.",
        domains=EXAMPLE_DOMAINS,
        upstream=[] if offline else _system_nameservers(),
    )


def _system_nameservers() -> list[str]:
    try:
        return [str(server) for server in dns.resolver.Resolver().nameservers]
    except dns.exception.DNSException:  # no /etc/resolv.conf: nobody to ask
        return []


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _under(name: str, domains: tuple[str, ...]) -> bool:
    return any(name == domain or name.endswith("." + domain) for domain in domains)


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None
        self._forwarding: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # not a DNS query: nothing to answer
        if not query.question:
            return
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.zone.queries.append((name, rdtype))
        if name in self.zone.silent:
            return
        if not self.zone.is_ours(name):
            self._pass_on(query, addr)
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        values = self.zone.records.get((name, rdtype))
        missing = name in self.zone.missing
        if values is None and rdtype == "MX" and not missing:
            values = [self.zone.default_mx] if self.zone.default_mx else None
        if values:
            response.answer.append(
                dns.rrset.from_text_list(name, 300, dns.rdataclass.IN, rdtype, values)
            )
        elif missing or not any(key[0] == name for key in self.zone.records):
            # (a name with other records but not this type answers NOERROR, no data)
            response.set_rcode(dns.rcode.NXDOMAIN)
        self._send(response, addr)

    def _pass_on(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
        if not self.zone.upstream:
            refused = dns.message.make_response(query)
            refused.set_rcode(dns.rcode.REFUSED)
            self._send(refused, addr)
            return
        task = asyncio.ensure_future(self._forward(query, addr))
        self._forwarding.add(task)
        task.add_done_callback(self._forwarding.discard)

    async def _forward(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
        for server in self.zone.upstream:
            try:
                answer = await dns.asyncquery.udp(
                    query, server, timeout=FORWARD_TIMEOUT_SECONDS, port=self.zone.upstream_port
                )
            except (dns.exception.DNSException, OSError):
                continue
            self._send(answer, addr)
            return
        failed = dns.message.make_response(query)
        failed.set_rcode(dns.rcode.SERVFAIL)
        self._send(failed, addr)

    def _send(self, response: dns.message.Message, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(response.to_wire(), addr)


@asynccontextmanager
async def dns_server(zone: Zone, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve ``zone`` on ``host`` (UDP) in the running loop; yields the port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Responder(zone), local_addr=(host, port)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


class DnsThread:
    """``dns_server`` in a thread of its own, for a process without an event loop
    (``outbound dev``, like the SMTP sink's controller)."""

    def __init__(self, zone: Zone, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zone, self.host, self.port = zone, host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dev-dns", daemon=True)
        self._transport: asyncio.DatagramTransport | None = None

    def start(self) -> DnsThread:
        """Bind (an OSError says why not) and serve; ``port=0`` picks a free port."""
        transport, _ = self._loop.run_until_complete(
            self._loop.create_datagram_endpoint(
                lambda: _Responder(self.zone), local_addr=(self.host, self.port)
            )
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._transport is not None:
            self._loop.call_soon_threadsafe(self._transport.close)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()
