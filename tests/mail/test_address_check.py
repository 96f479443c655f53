"""The address check against a real DNS server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from outbound.devstack.dns import Zone, dev_zone, dns_server
from outbound.mail.address_check import AddressChecker, Verdict


@pytest.fixture
def zone() -> Zone:
    zone = Zone()
    zone.add("acme.example", "MX", "10 mx1.acme.example.", "20 mx2.acme.example.")
    zone.add("mx1.acme.example", "A", "192.0.2.10")
    zone.add("bare.example", "A", "192.0.2.20")  # no MX: the A record is the implicit MX
    zone.add("nomail.example", "MX", "0 .")  # RFC 7505 null MX
    zone.add("textonly.example", "TXT", '"v=spf1 -all"')  # exists, neither MX nor address
    zone.missing.add("gone.example.")
    zone.silent.add("slow.example.")
    return zone


@pytest.fixture
async def checker(zone: Zone) -> AsyncIterator[AddressChecker]:
    async with dns_server(zone) as port:
        yield AddressChecker(nameservers=["127.0.0.1"], port=port, timeout_seconds=0.5)


@pytest.mark.parametrize(
    ("address", "verdict", "reason_part"),
    [
        ("ada@acme.example", Verdict.VALID, ""),
        ("ada@bare.example", Verdict.VALID, ""),
        ("ada@nomail.example", Verdict.INVALID, "null MX"),
        ("ada@textonly.example", Verdict.INVALID, "no mail server"),
        ("ada@gone.example", Verdict.INVALID, "does not exist"),
        ("ada@slow.example", Verdict.UNVERIFIED, "DNS did not answer"),
        ("ada at acme.example", Verdict.INVALID, "@-sign"),
        ("ada@@acme.example", Verdict.INVALID, ""),
        ("ada@acme", Verdict.INVALID, ""),
        ("", Verdict.INVALID, ""),
    ],
)
async def test_verdicts(
    checker: AddressChecker, address: str, verdict: Verdict, reason_part: str
) -> None:
    check = await checker.check(address)
    assert check.verdict is verdict, check
    assert reason_part in check.reason


async def test_role_and_disposable_addresses_are_flagged_not_refused(
    checker: AddressChecker, zone: Zone
) -> None:
    zone.add("mailinator.com", "MX", "10 mail.mailinator.com.")
    role = await checker.check("Jobs@acme.example")
    disposable = await checker.check("ada@mailinator.com")
    person = await checker.check("ada@acme.example")
    assert (role.verdict, role.role, role.disposable) == (Verdict.VALID, True, False)
    assert (disposable.verdict, disposable.disposable) == (Verdict.VALID, True)
    assert not person.role and not person.disposable


async def test_one_lookup_per_domain(checker: AddressChecker, zone: Zone) -> None:
    for name in ("ada", "grace", "alan"):
        assert (await checker.check(f"{name}@acme.example")).verdict is Verdict.VALID
    assert zone.queries.count(("acme.example.", "MX")) == 1


async def test_unanswered_lookups_are_asked_again(checker: AddressChecker, zone: Zone) -> None:
    assert (await checker.check("ada@slow.example")).verdict is Verdict.UNVERIFIED
    zone.silent.clear()
    zone.add("slow.example", "MX", "10 mx.slow.example.")
    assert (await checker.check("ada@slow.example")).verdict is Verdict.VALID


async def test_without_dns_syntax_still_counts() -> None:
    checker = AddressChecker(check_dns=False)
    assert (await checker.check("ada@acme.example")).verdict is Verdict.UNVERIFIED
    assert (await checker.check("not an address")).verdict is Verdict.INVALID


async def test_no_resolver_answering_is_unverified() -> None:
    checker = AddressChecker(nameservers=["127.0.0.1"], port=9, timeout_seconds=0.3)
    check = await checker.check("ada@acme.example")
    assert check.verdict is Verdict.UNVERIFIED


@pytest.mark.parametrize(
    ("address", "verdict", "reason_part"),
    [
        ("cem@example.org", Verdict.VALID, ""),
        ("ann@acme.example.com", Verdict.VALID, ""),
        ("ann@new.example", Verdict.VALID, ""),
        ("bob@bolt.example.net", Verdict.VALID, ""),
        ("ada@elsewhere.org", Verdict.UNVERIFIED, "DNS did not answer"),  # no DNS to ask
    ],
)
async def test_the_dev_stack_answers_the_example_domains_without_any_dns(
    address: str, verdict: Verdict, reason_part: str
) -> None:
    zone = dev_zone(offline=True)
    async with dns_server(zone) as port:
        check = await AddressChecker(
            nameservers=["127.0.0.1"], port=port, timeout_seconds=0.5
        ).check(address)

    assert check.verdict is verdict, check
    assert reason_part in check.reason


async def test_the_dev_stack_asks_the_machines_resolver_about_other_domains() -> None:
    machines = Zone()
    machines.add("acme.io", "MX", "10 mx.acme.io.")
    machines.add("nomail.io", "MX", "0 .")
    async with dns_server(machines) as upstream_port:
        dev = dev_zone(offline=True)
        dev.upstream, dev.upstream_port = ["127.0.0.1"], upstream_port
        async with dns_server(dev) as port:
            checker = AddressChecker(nameservers=["127.0.0.1"], port=port, timeout_seconds=1)
            checks = [
                await checker.check(a)
                for a in ("ada@acme.io", "ada@nomail.io", "ada@gone.io", "cem@example.org")
            ]

    assert [c.verdict for c in checks] == [
        Verdict.VALID,
        Verdict.INVALID,
        Verdict.INVALID,
        Verdict.VALID,
    ]
    assert ("acme.io.", "MX") in machines.queries  # asked of the machine's resolver
    assert ("example.org.", "MX") not in machines.queries  # answered by the dev zone itself
