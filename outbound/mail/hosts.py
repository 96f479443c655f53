"""Which mail servers Outbound connects to, and what it tells a user when it cannot.

A mailbox's SMTP and IMAP host and port are a user's input, and connecting is
something the server does on its own network: without a check, the Start-time
login check and ``PUT /mailboxes/{id}/imap`` scan the server's own network
(issue 25). So, at every connection:

* the port must be a mail port (:data:`MAIL_PORTS`) unless
  ``OUTBOUND_ALLOW_ANY_MAIL_PORT`` is on;
* the host name is resolved, and every address it resolves to must be a
  global unicast address (not loopback, private, link-local, shared, reserved
  or multicast; IPv4 inside IPv6 is judged as IPv4) unless
  ``OUTBOUND_ALLOW_PRIVATE_MAIL_HOSTS`` is on (``outbound dev`` and the tests
  turn it on for the local sink and dovecot);
* the connection goes to the address that was checked (:class:`Destination`),
  so a DNS answer that changes between check and connect cannot redirect it;
  TLS still verifies the certificate against the host name.

What went wrong is answered with one of a few fixed reasons
(:class:`Unreachable`), never the server's banner or the network's shape;
the details go to the server's log only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.rdatatype

from outbound.settings import Settings

MAIL_PORTS = frozenset({25, 465, 587, 2525, 143, 993})
CHECK_SECONDS = 10.0
"""A whole login check (resolve, connect, TLS, login) gives up after this."""
CHECK_STEP_SECONDS = 5.0
"""Each step of a login check (connect, each command) gives up after this."""
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_log = logging.getLogger(__name__)


class Unreachable(StrEnum):
    """The reasons a user is told; the rest is in the server's log."""

    COULD_NOT_CONNECT = "could not connect"
    TLS_FAILED = "TLS failed"
    LOGIN_REFUSED = "login refused"
    TIMED_OUT = "timed out"


class HostRefused(Exception):
    """The host or port may not be used (a fixed reason; nothing was connected)."""


@dataclass(frozen=True)
class Destination:
    """A checked address to connect to, and the name TLS verifies."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class HostPolicy:
    """What may be connected to, and the resolver that says where names point.

    ``nameservers`` None uses the system's resolver (``getaddrinfo``, which
    knows ``/etc/hosts``); a list asks those servers (as the address check does).
    """

    allow_private: bool = False
    allow_any_port: bool = False
    nameservers: tuple[str, ...] | None = None
    dns_port: int = 53
    dns_timeout_seconds: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        return cls(
            allow_private=settings.allow_private_mail_hosts,
            allow_any_port=settings.allow_any_mail_port,
            nameservers=tuple(settings.dns_nameservers) or None,
            dns_port=settings.dns_port,
            dns_timeout_seconds=settings.dns_timeout_seconds,
        )

    def port_problem(self, port: int) -> str | None:
        if self.allow_any_port or port in MAIL_PORTS:
            return None
        ports = ", ".join(str(p) for p in sorted(MAIL_PORTS))
        return f"port {port} is not a mail port ({ports})"

    def host_problem(self, host: str) -> str | None:
        """What is wrong with ``host`` as far as can be told without DNS (an IP address
        that may not be used), for mailbox create time; names are checked at connect."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return self._address_problem(address)

    async def destination(self, host: str, port: int) -> Destination:
        """Resolve ``host`` and check port and every address; raises :class:`HostRefused`
        (not allowed) or :class:`OSError` (no address: the caller says "could not connect")."""
        problem = self.port_problem(port)
        if problem is not None:
            raise HostRefused(problem)
        addresses = await self._resolve(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        for address in addresses:
            problem = self._address_problem(ipaddress.ip_address(address))
            if problem is not None:
                _log.warning("mail host %s refused: it resolves to %s", host, address)
                raise HostRefused(problem)
        return Destination(host, addresses[0], port)

    def _address_problem(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> str | None:
        if self.allow_private or is_public(address):
            return None
        return "the host resolves to a loopback, private, link-local or reserved address"

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to (an IP address: itself), unchecked."""
        return await self._resolve(host, port)

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        if self.nameservers is None:
            loop = asyncio.get_running_loop()
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.dns_timeout_seconds
            )
            return list(dict.fromkeys(str(info[4][0]) for info in infos))
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(self.nameservers)
        resolver.port = self.dns_port
        resolver.lifetime = resolver.timeout = self.dns_timeout_seconds
        found: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = await resolver.resolve(host, rdtype)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as error:
                raise OSError(f"DNS did not answer for {host}: {type(error).__name__}") from None
            found += [record.to_text() for record in answer]
        return found


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


async def open_socket(destination: Destination, seconds: float) -> socket.socket:
    """A TCP connection to the checked address (non-blocking, for asyncio transports)."""
    family = socket.AF_INET6 if ":" in destination.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, (destination.address, destination.port)),
            seconds,
        )
    except BaseException:
        sock.close()
        raise
    return sock


def unreachable(error: BaseException) -> Unreachable:
    """The fixed reason for a failure to connect (or to finish connecting)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return Unreachable.TLS_FAILED
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return Unreachable.TIMED_OUT
        if "STARTTLS" in str(seen):  # aiosmtplib: not offered, or refused
            return Unreachable.TLS_FAILED
        seen = seen.__cause__ or seen.__context__
    return Unreachable.COULD_NOT_CONNECT


def log_failure(what: str, host: str, port: int, error: BaseException) -> None:
    """The details a user is not told, for the operator."""
    _log.warning("%s %s:%s failed: %s: %s", what, host, port, type(error).__name__, error)
