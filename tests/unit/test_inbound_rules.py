"""The small rules of inbound matching: address normalisation and what counts as a hard bounce."""

from __future__ import annotations

import pytest

from outbound.domain.addresses import normalise


@pytest.mark.parametrize(
    ("written", "same_as"),
    [
        ("Ann.Lee+jobs@gmail.com", "annlee@gmail.com"),
        ("a.n.n.l.e.e@googlemail.com", "annlee@gmail.com"),
        ("ANNLEE@GMAIL.COM", "annlee@gmail.com"),
        ("Bob@Bolt.Example.com", "bob@bolt.example.com"),
    ],
)
def test_addresses_that_reach_one_inbox_normalise_alike(written: str, same_as: str) -> None:
    assert normalise(written) == same_as


@pytest.mark.parametrize(
    ("written", "other"),
    [
        # Outside Gmail, dots and tags may name different people: kept apart.
        ("ann.lee@example.com", "annlee@example.com"),
        ("ann+jobs@example.com", "ann@example.com"),
    ],
)
def test_other_domains_keep_dots_and_tags(written: str, other: str) -> None:
    assert normalise(written) != normalise(other)
