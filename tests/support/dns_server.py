"""A real DNS server on loopback UDP, answering from a small zone the test writes.

Built with dnspython's wire format so the address checker talks real DNS
(the same resolver code as production), not a mocked resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    """Records by (name, type); ``missing`` names answer NXDOMAIN, ``silent`` ones never answer.

    With ``default_mx`` set, any other name asked for MX gets that answer, so
    end-to-end tests can use made-up domains freely.
    """

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    default_mx: str | None = None

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((_absolute(name), rdtype), []).extend(values)


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.zone.queries.append((name, rdtype))
        if name in self.zone.silent:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        values = self.zone.records.get((name, rdtype))
        if values is None and rdtype == "MX" and name not in self.zone.missing:
            values = [self.zone.default_mx] if self.zone.default_mx else None
        if values:
            response.answer.append(
                dns.rrset.from_text_list(name, 300, dns.rdataclass.IN, rdtype, values)
            )
        elif name in self.zone.missing or not any(key[0] == name for key in self.zone.records):
            # (a name with other records but not this type answers NOERROR, no data)
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@asynccontextmanager
async def dns_server(zone: Zone) -> AsyncIterator[int]:
    """Serve ``zone`` on 127.0.0.1; yields the UDP port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Responder(zone), local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
