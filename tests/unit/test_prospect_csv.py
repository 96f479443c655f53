"""CSV import keeps every typed address in relevance order and names bad cells."""

from __future__ import annotations

from outbound.domain.prospect_csv import CsvProblem, parse_prospects_csv
from outbound.domain.statuses import AddressType


def test_typed_addresses_follow_column_then_cell_order() -> None:
    text = (
        "\ufefffirst_name,Work_Email,personal_email,use_first,role\n"
        "Ann,ann@acme.example.com,ann@example.com; ann2@example.org,ann@example.com,CTO\n"
    )

    prospects, problems = parse_prospects_csv(text)

    assert problems == []
    [ann] = prospects
    assert [(a.address, a.type, a.use_first) for a in ann.addresses] == [
        ("ann@acme.example.com", AddressType.WORK, False),
        ("ann@example.com", AddressType.PERSONAL, True),
        ("ann2@example.org", AddressType.PERSONAL, False),
    ]
    assert ann.first_name == "Ann"
    assert ann.fields == {"role": "CTO"}


def test_blank_rows_are_skipped_and_bad_cells_named_by_row() -> None:
    text = "first_name,email\nAnn,ann@example.com\n,\nBob,bob-at-example\nCem,\n"

    prospects, problems = parse_prospects_csv(text)

    assert [p.first_name for p in prospects] == ["Ann"]
    assert [(p.row, p.field) for p in problems] == [
        (4, "addresses.0.address"),
        (5, "email/phone"),  # neither an address nor a number
    ]


def test_a_row_with_only_a_phone_number_is_a_prospect_without_addresses() -> None:
    prospects, problems = parse_prospects_csv("first_name,mobile_phone\nDee,+14155550124\n")

    assert problems == []
    (dee,) = prospects
    assert (dee.addresses, [p.number for p in dee.phones]) == ([], ["+14155550124"])


def test_a_row_with_neither_an_address_nor_a_number_is_named() -> None:
    _, problems = parse_prospects_csv("first_name,email,phone\nAnn,a@example.com,\nNil,,\n")

    assert problems == [CsvProblem(3, "email/phone", "give an email address or a phone number")]
