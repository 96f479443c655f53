"""Can this address receive mail? Syntax by email-validator, the domain's mail servers by DNS.

The answer has three values because DNS is not always there to ask: an
address whose domain has no mail servers is ``INVALID`` and is never sent to,
but an address we could not check (DNS timed out, no resolver configured) is
``UNVERIFIED``, which is *not* a failure — PRODUCT.md rule 1 says validation
failures stop a send, and a silent resolver is not the prospect's fault.

Role addresses (info@, jobs@ …) and disposable domains are flagged, not refused:
the user decides whether a team inbox is the right contact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from disposable_email_domains import blocklist as disposable_domains
from email_validator import EmailNotValidError, validate_email

ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "admin", "administrator", "billing", "careers", "contact", "enquiries",
        "hello", "help", "hostmaster", "hr", "info", "inquiries", "jobs", "mail", "marketing",
        "no-reply", "noc", "noreply", "office", "postmaster", "press", "privacy", "recruiting",
        "sales", "security", "support", "team", "webmaster",
    }
)  # fmt: skip


class Verdict(StrEnum):
    VALID = "valid"
    UNVERIFIED = "unverified"
    INVALID = "invalid"


@dataclass(frozen=True)
class AddressCheck:
    address: str
    verdict: Verdict
    role: bool = False
    disposable: bool = False
    reason: str = ""


@dataclass(frozen=True)
class _DomainAnswer:
    verdict: Verdict
    reason: str
    expires_at: float


class AddressChecker:
    """Checks addresses, caching each domain's answer so a 10,000-prospect campaign
    at one company asks DNS once, not 10,000 times.

    ``nameservers``/``port`` point at a specific resolver (tests run one on
    loopback); without them the system's resolver is used.
    """

    def __init__(
        self,
        *,
        nameservers: list[str] | None = None,
        port: int = 53,
        timeout_seconds: float = 3.0,
        check_dns: bool = True,
        cache_seconds: float = 3600,
    ) -> None:
        self._nameservers = nameservers
        self._port = port
        self._timeout = timeout_seconds
        self._check_dns = check_dns
        self._cache_seconds = cache_seconds
        self._cache: dict[str, _DomainAnswer] = {}
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def check(self, address: str) -> AddressCheck:
        """Never raises: every problem is a verdict with a reason users can read."""
        try:
            parsed = validate_email(address, check_deliverability=False)
        except EmailNotValidError as error:
            return AddressCheck(address, Verdict.INVALID, reason=str(error))
        domain = parsed.ascii_domain.lower()
        role = parsed.local_part.lower() in ROLE_LOCAL_PARTS
        disposable = domain in disposable_domains
        if not self._check_dns:
            verdict, reason = Verdict.UNVERIFIED, "mail server lookup is switched off"
        else:
            verdict, reason = await self._domain_verdict(domain)
        return AddressCheck(address, verdict, role=role, disposable=disposable, reason=reason)

    async def _domain_verdict(self, domain: str) -> tuple[Verdict, str]:
        cached = self._cache.get(domain)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached.verdict, cached.reason
        verdict, reason = await self._look_up(domain)
        if verdict is not Verdict.UNVERIFIED:  # a silent resolver may answer next time
            expires_at = time.monotonic() + self._cache_seconds
            self._cache[domain] = _DomainAnswer(verdict, reason, expires_at)
        return verdict, reason

    async def _look_up(self, domain: str) -> tuple[Verdict, str]:
        """MX first; no MX falls back to the domain's own address (RFC 5321 §5.1)."""
        try:
            resolver = self._get_resolver()
            try:
                answer = await resolver.resolve(domain, dns.rdatatype.MX)
            except dns.resolver.NoAnswer:
                return await self._implicit_mx(resolver, domain)
        except dns.resolver.NXDOMAIN:
            return Verdict.INVALID, f"the domain {domain} does not exist"
        except (dns.exception.DNSException, OSError) as error:
            return Verdict.UNVERIFIED, f"DNS did not answer for {domain} ({type(error).__name__})"
        exchanges = [record.exchange for record in answer]  # type: ignore[attr-defined]
        if all(exchange == dns.name.root for exchange in exchanges):  # RFC 7505 null MX
            return Verdict.INVALID, f"the domain {domain} accepts no mail (null MX)"
        return Verdict.VALID, ""

    async def _implicit_mx(
        self, resolver: dns.asyncresolver.Resolver, domain: str
    ) -> tuple[Verdict, str]:
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                await resolver.resolve(domain, rdtype)
            except dns.resolver.NoAnswer:
                continue
            return Verdict.VALID, ""
        return Verdict.INVALID, f"the domain {domain} has no mail server"

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=self._nameservers is None)
            if self._nameservers is not None:
                resolver.nameservers = list(self._nameservers)
                resolver.port = self._port
            resolver.lifetime = self._timeout
            resolver.timeout = self._timeout
            self._resolver = resolver
        return self._resolver
