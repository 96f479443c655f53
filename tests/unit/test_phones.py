"""Phone numbers are read as people write them, kept in E.164, and hint at a time zone."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from outbound.domain.phones import (
    MAX_PHONE_LENGTH,
    parse_phone,
    phone_region,
    prospect_zone,
    zones_for_number,
)
from outbound.domain.prospect_csv import parse_prospects_csv
from outbound.domain.prospects import ProspectCreate
from outbound.domain.statuses import PhoneType
from outbound.settings import Settings

NEW_YORK = "+12125550123"
LONDON = "+442079460123"
PARIS = "+33142685300"
TOLL_FREE = "+18005550199"  # North America's toll-free numbers span every zone there


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("+1 (212) 555-0123", "US", NEW_YORK),
        ("+44 20 7946 0123", "US", LONDON),
        ("+33 1 42 68 53 00", None, PARIS),
        ("(212) 555-0123", "US", NEW_YORK),
        ("212.555.0123", "US", NEW_YORK),
        ("020 7946 0123", "GB", LONDON),
        ("01 42 68 53 00", "FR", PARIS),
        ("  +12125550123  ", None, NEW_YORK),
    ],
)
def test_numbers_are_stored_in_e164(written: str, region: str | None, e164: str) -> None:
    assert parse_phone(written, region) == e164


@pytest.mark.parametrize(
    ("written", "region", "reason"),
    [
        ("020 7946 0123", "US", "not a valid phone number"),  # a London number read as US
        ("+1 212 555 012", "US", "not a valid phone number"),  # a digit short
        ("+1 555 555 0123", "US", "not a valid phone number"),  # no such area code
        ("++", "US", "not a valid phone number"),
        ("(212) 555-0123", None, "needs its country code"),
        ("1-800-FLOWERS", "US", "no letters"),
        ("+1 212 555 0123 ext. 4", "US", "no letters"),
        ("call reception", "US", "no letters"),
        ("", "US", "is required"),
        ("+1" + "2" * MAX_PHONE_LENGTH, "US", f"at most {MAX_PHONE_LENGTH} characters"),
    ],
)
def test_what_is_not_a_number_says_how_to_write_one(
    written: str, region: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        parse_phone(written, region)
    assert "international form, e.g. +14155550123" in str(refused.value)


def test_a_number_s_region_gives_its_time_zones() -> None:
    assert zones_for_number(NEW_YORK) == ["America/New_York"]
    assert zones_for_number(LONDON) == ["Europe/London"]
    spanning = zones_for_number(TOLL_FREE)
    assert len(spanning) > 1
    assert {"America/New_York", "America/Los_Angeles"} <= set(spanning)


def test_a_number_without_a_region_or_unreadable_has_no_zone() -> None:
    assert zones_for_number("+80012345678") == []  # international freephone: "Etc/Unknown"
    assert zones_for_number("not a number") == []


def test_the_prospect_s_own_zone_wins_else_the_first_number_with_one() -> None:
    assert prospect_zone("Europe/Berlin", [NEW_YORK]) == ["Europe/Berlin"]
    assert prospect_zone(None, ["+80012345678", LONDON, NEW_YORK]) == ["Europe/London"]
    assert prospect_zone(None, []) == []
    assert prospect_zone(None, ["+80012345678"]) == []


def test_request_models_read_numbers_in_the_current_region_and_keep_each_once() -> None:
    body = {
        "addresses": [{"address": "ann@example.com"}],
        "phones": [
            {"number": "020 7946 0123", "type": "work"},
            {"number": "+33 1 42 68 53 00"},
            {"number": "+44 20 7946 0123", "type": "other"},  # the first one again
        ],
    }
    with phone_region("GB"):
        ann = ProspectCreate.model_validate(body)
    with phone_region(None), pytest.raises(ValidationError) as refused:
        ProspectCreate.model_validate(body)

    assert [(p.number, p.type) for p in ann.phones] == [
        (LONDON, PhoneType.WORK),
        (PARIS, PhoneType.MOBILE),
    ]
    [error] = refused.value.errors()
    assert error["loc"] == ("phones", 0, "number")


def test_at_most_ten_numbers_per_prospect() -> None:
    body = {
        "addresses": [{"address": "ann@example.com"}],
        "phones": [{"number": f"+1212555{i:04d}"} for i in range(11)],
    }
    with pytest.raises(ValidationError, match="at most 10 items"):
        ProspectCreate.model_validate(body)


def test_csv_phone_columns_follow_column_then_cell_order_and_bad_cells_name_the_column() -> None:
    text = (
        "first_name,email,work_phone,phone,other_phone,mobile_phone\n"
        "Ann,ann@example.com,+44 20 7946 0123,(212) 555-0123; +33142685300,,\n"
        "Bob,bob@example.com,,,,\n"
        "Cem,cem@example.com,,,not a number,\n"
    )

    prospects, problems = parse_prospects_csv(text)

    assert [(p.row, p.field) for p in problems] == [(4, "other_phone")]
    assert "not a valid phone number" not in problems[0].reason  # letters: said first
    assert "+14155550123" in problems[0].reason
    ann, bob = prospects
    assert [(p.number, p.type) for p in ann.phones] == [
        (LONDON, PhoneType.WORK),
        (NEW_YORK, PhoneType.MOBILE),
        (PARIS, PhoneType.MOBILE),
    ]
    assert ann.fields == {} and bob.phones == []


def test_the_default_region_setting_is_a_known_region_or_none() -> None:
    assert Settings(default_phone_region="gb").default_phone_region == "GB"
    assert Settings(default_phone_region="").default_phone_region is None
    assert (
        Settings(default_phone_region=None).as_environment()["OUTBOUND_DEFAULT_PHONE_REGION"] == ""
    )
    with pytest.raises(ValidationError, match="unknown phone region"):
        Settings(default_phone_region="XX")
