"""Which webhook URLs may be called, checked at create and at every delivery.

A webhook URL is a user's input that the server then calls on its own
network. So its host is resolved, and every address it resolves to must be a
global unicast address (the same test as mail hosts, ``outbound.mail.hosts``)
unless ``OUTBOUND_WEBHOOK_ALLOW_LOOPBACK`` (loopback only) or
``OUTBOUND_WEBHOOK_ALLOW_PRIVATE`` (every non-global address) is on. The
request then goes to the address that was checked (:class:`Target`), so a DNS
answer that changes between check and connect cannot turn it into a request
inside the user's network; TLS still verifies the certificate for the name.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from outbound.domain.webhooks import MAX_URL_LENGTH
from outbound.mail.hosts import HostPolicy, is_public
from outbound.settings import Settings

PRIVATE_REASON = "the URL's host resolves to a loopback, private, link-local or reserved address"


class UrlRefused(Exception):
    """The URL may not be called (a reason a user may read; nothing was connected)."""


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the checked address, and the name for Host and TLS."""

    url: str  # the URL with its host replaced by the checked address
    host: str  # the Host header (name[:port])
    server_name: str  # the name TLS verifies


@dataclass(frozen=True)
class UrlPolicy:
    """The resolver and what may be called."""

    hosts: HostPolicy
    allow_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            HostPolicy.from_settings(settings),
            allow_loopback=settings.webhook_allow_loopback,
            allow_private=settings.webhook_allow_private,
        )

    def shape_problem(self, url: str) -> str | None:
        """What is wrong with the URL itself (no DNS), or None."""
        try:
            _parts(url)
        except UrlRefused as refused:
            return str(refused)
        return None

    async def target(self, url: str) -> Target:
        """Resolve and check; raises :class:`UrlRefused` or :class:`OSError` (no address)."""
        parts = _parts(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self.hosts.resolve(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        for address in addresses:
            if not self._allowed(ipaddress.ip_address(address)):
                raise UrlRefused(PRIVATE_REASON)
        chosen = addresses[0]
        literal = f"[{chosen}]" if ":" in chosen else chosen
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        host_header = parts.netloc.rpartition("@")[2]
        return Target(urlunsplit(parts._replace(netloc=netloc)), host_header, host.strip("[]"))

    def _allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if self.allow_private or is_public(address):
            return True
        return self.allow_loopback and address.is_loopback


def _parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise UrlRefused("not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise UrlRefused("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("must not carry a #fragment")
    return parts
