"""Field checks shared by every request model, so each rule has one wording."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator


def single_line(value: str) -> str:
    """Reject CR, LF, NUL and other control characters: in a header they would let a
    user inject extra headers or break the message."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line (no CR or LF characters)")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters (such as NUL)")
    return value


def email_address(value: str) -> str:
    """Normalise an address (syntax only: deliverability is checked at send time)."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def host_name(value: str) -> str:
    """A server's DNS name (internationalised names allowed) or IP address.

    Checked here because a name the resolver cannot encode (a control
    character, say) fails only when we connect, deep inside a request."""
    value = value.strip()
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(value))
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a host name or IP address") from None
    labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a host name or IP address (letters, digits, hyphens and dots)")
    return value


def time_zone_name(value: str) -> str:
    """Accept only IANA names (e.g. Europe/Berlin), which carry DST rules."""
    if value not in _zone_names():
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Europe/Berlin"
            ) from None
    return value


_ZONES: frozenset[str] = frozenset()


def _zone_names() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones())
    return _ZONES


EmailAddress = Annotated[str, AfterValidator(email_address)]
SingleLine = Annotated[str, AfterValidator(single_line)]
TimeZoneName = Annotated[str, AfterValidator(time_zone_name)]
HostName = Annotated[str, AfterValidator(host_name)]
