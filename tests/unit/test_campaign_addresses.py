"""Which of a prospect's addresses a campaign tries, and in what order."""

from __future__ import annotations

from outbound.domain.statuses import AddressType
from outbound.store.prospects import campaign_addresses
from outbound.store.tables import ProspectAddress


def addresses(*specs: tuple[str, str, bool]) -> list[ProspectAddress]:
    return [
        ProspectAddress(prospect_id=1, position=i + 1, address=a, type=t, use_first=first)
        for i, (a, t, first) in enumerate(specs)
    ]


ANN = addresses(
    ("ann@gmail.example.com", "personal", False),
    ("ann@acme.example.com", "work", False),
    ("ann@old.example.com", "other", False),
    ("ann.b@acme.example.com", "work", False),
)


def test_relevance_order_without_a_preference() -> None:
    assert campaign_addresses(ANN) == [a.address for a in ANN]


def test_the_preferred_type_first_then_the_others() -> None:
    assert campaign_addresses(ANN, AddressType.WORK) == [
        "ann@acme.example.com",
        "ann.b@acme.example.com",
        "ann@gmail.example.com",
        "ann@old.example.com",
    ]


def test_dont_send_to_other_types() -> None:
    assert campaign_addresses(ANN, AddressType.WORK, only_preferred=True) == [
        "ann@acme.example.com",
        "ann.b@acme.example.com",
    ]
    assert (
        campaign_addresses(
            addresses(("a@x.example.com", "other", False)), AddressType.PERSONAL, True
        )
        == []
    )


def test_use_this_address_first_overrides_the_preference() -> None:
    flagged = addresses(
        ("ann@acme.example.com", "work", False), ("ann@gmail.example.com", "personal", True)
    )

    assert campaign_addresses(flagged, AddressType.WORK, only_preferred=True) == [
        "ann@gmail.example.com",
        "ann@acme.example.com",
    ]
