"""Who counts as one company: the address domain, free mail aside, or the company field."""

from __future__ import annotations

import pytest

from outbound.domain.company_key import company_domain, company_name
from outbound.domain.company_rules import colleague_reason
from outbound.domain.statuses import ProspectStatus


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("ann@acme.example", "acme.example"),
        ("Ann.Lee@ACME.Example.", "acme.example"),
        ("ben@eu.acme.example", "eu.acme.example"),  # compared whole
        ("ann@gmail.com", None),
        ("ann@googlemail.com", None),
        ("ann@outlook.com", None),
        ("ann@hotmail.co.uk", None),
        ("ann@yahoo.fr", None),
        ("ann@icloud.com", None),
        ("ann@proton.me", None),
        ("ann@gmx.de", None),
        ("ann@mailinator.com", None),  # disposable: no company either
        ("not-an-address", None),
        ("", None),
        (None, None),
    ],
)
def test_the_domain_counts_unless_it_is_free_mail(address: str | None, domain: str | None) -> None:
    assert company_domain(address) == domain


@pytest.mark.parametrize(
    ("company", "name"),
    [("Acme", "acme"), ("  ACME ", "acme"), ("", None), ("   ", None), (None, None)],
)
def test_the_company_field_counts_when_set(company: str | None, name: str | None) -> None:
    assert company_name(company) == name


def test_the_reason_names_the_colleagues_event_not_the_colleague() -> None:
    assert [
        colleague_reason(s)
        for s in (ProspectStatus.REPLIED, ProspectStatus.BOUNCED, ProspectStatus.OPTED_OUT)
    ] == ["ColleagueReplied", "ColleagueBounced", "ColleagueOptedOut"]
