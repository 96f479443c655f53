"""Prospects' phone numbers: read as people write them, kept in E.164 (``+14155550123``).

Google's ``phonenumbers`` library parses and validates them. A number written
without a leading ``+`` is read in the default region: the
``default_phone_region`` setting, which the API sets for each request with
:func:`phone_region`; with no default region, ``+`` is required. A number's
region also gives a prospect without a time zone a fallback one
(:func:`prospect_zone`).

>>> parse_phone("(212) 555-0123", "US")
'+12125550123'
>>> zones_for_number("+442079460123")
['Europe/London']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers.timezone import time_zones_for_number
from pydantic import AfterValidator

from outbound.domain.validators import time_zone_name

DEFAULT_PHONE_REGION = "US"
"""The region of numbers written without ``+`` unless the settings say otherwise."""
MAX_PHONE_LENGTH = 40
"""Characters of one written number (spaces and punctuation included)."""
MAX_PHONES_PER_PROSPECT = 10

_HOW = "write it in international form, e.g. +14155550123"
_UNKNOWN_ZONE = "Etc/Unknown"

_region: ContextVar[str | None] = ContextVar("outbound_phone_region", default=DEFAULT_PHONE_REGION)


@contextmanager
def phone_region(region: str | None) -> Iterator[None]:
    """Read numbers without ``+`` in ``region`` (None: ``+`` required) inside the block."""
    token = _region.set(region)
    try:
        yield
    finally:
        _region.reset(token)


def current_phone_region() -> str | None:
    """The region numbers without ``+`` are read in, here and now."""
    return _region.get()


def parse_phone(text: str, default_region: str | None) -> str:
    """``text`` as an E.164 number; a ValueError says what to fix.

    Letters are refused (no extensions or vanity words: a message goes to the
    digits alone), and so is a number ``phonenumbers`` does not find valid.
    """
    if len(text) > MAX_PHONE_LENGTH:
        raise ValueError(f"a phone number has at most {MAX_PHONE_LENGTH} characters; {_HOW}")
    text = text.strip()
    if not text:
        raise ValueError(f"a phone number is required; {_HOW}")
    if any(c.isalpha() for c in text):
        raise ValueError(f"a phone number has no letters (no extensions or words); {_HOW}")
    international = text.startswith("+")
    if not international and default_region is None:
        raise ValueError(f"a phone number needs its country code; {_HOW}")
    try:
        number = phonenumbers.parse(text, None if international else default_region)
    except NumberParseException:
        raise ValueError(f"not a valid phone number; {_HOW}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number; {_HOW}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def phone_number(value: str) -> str:
    """A request field's number, read in the current region (:func:`phone_region`)."""
    return parse_phone(value, current_phone_region())


def zones_for_number(e164: str) -> list[str]:
    """The IANA time zones of the number's region, as ``phonenumbers`` knows them; [] when
    it knows none (or none this system's zone database has)."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return []
    return [
        name
        for name in time_zones_for_number(number)
        if name != _UNKNOWN_ZONE and _known_zone(name)
    ]


def prospect_zone(prospect_time_zone: str | None, phones: Sequence[str]) -> list[str]:
    """The zones a prospect may be in: their own when set, else those of the first of their
    numbers (in relevance order) whose region has any; [] when nothing tells."""
    if prospect_time_zone:
        return [prospect_time_zone]
    for number in phones:
        zones = zones_for_number(number)
        if zones:
            return zones
    return []


def _known_zone(name: str) -> bool:
    try:
        time_zone_name(name)
    except ValueError:
        return False
    return True


PhoneNumber = Annotated[str, AfterValidator(phone_number)]
