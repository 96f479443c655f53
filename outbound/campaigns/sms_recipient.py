"""Where and when a prospect's texts may go, decided once at Start.

The number: the prospect's first ``mobile`` number in relevance order, else
their first number of any type; None when they have none (their SMS steps then
have nobody to go to). The legal hours (``scheduling.quiet_hours``): the
workspace's hours (08:00–21:00 unless it narrowed them) in the zones the
recipient may be in: their own time zone when known, else the zones of the
number's region (a US number can span several; ``legal_window`` narrows to
what is legal in all of them), else the sender's time zone. A region whose
zones share no legal instant at all (a country spanning half the globe) falls
back to the sender's zone, as when nothing is known.

Usage::

    recipient = sms_recipient(
        sender_id=7,
        sender_zone="America/New_York",
        prospect_time_zone=None,
        phones=[("+14155550123", "work"), ("+14155550199", "mobile")],
        hours=(time(8), time(21)),
    )
    recipient.to_number  # '+14155550199'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from outbound.domain.phones import prospect_zone
from outbound.domain.schedule import QuietHoursSpec
from outbound.domain.sms_sequence import SmsRecipient
from outbound.domain.statuses import PhoneType
from outbound.scheduling.quiet_hours import legal_window
from outbound.scheduling.windows import SendWindow


def sms_number(phones: Sequence[tuple[str, str]]) -> str | None:
    """The number texts go to: the first mobile one, else the first; ``phones`` are
    (E.164 number, PhoneType) in relevance order."""
    for number, kind in phones:
        if kind == PhoneType.MOBILE:
            return number
    return phones[0][0] if phones else None


def recipient_window(
    prospect_time_zone: str | None,
    number: str | None,
    sender_zone: str,
    hours: tuple[time, time],
) -> SendWindow:
    """The instants inside ``hours`` wherever the recipient may be (see the module)."""
    start, end = hours
    zones = prospect_zone(prospect_time_zone, [number] if number else [])
    if zones:
        try:
            return legal_window(zones, start, end)
        except ValueError:
            pass  # no instant legal everywhere in the region: the sender's zone decides
    return legal_window([sender_zone], start, end)


def sms_recipient(
    *,
    sender_id: int,
    sender_zone: str,
    prospect_time_zone: str | None,
    phones: Sequence[tuple[str, str]],
    hours: tuple[time, time],
) -> SmsRecipient:
    """The SMS part of one prospect's workflow input."""
    number = sms_number(phones)
    window = recipient_window(prospect_time_zone, number, sender_zone, hours)
    return SmsRecipient(
        sender_id=sender_id, to_number=number, quiet_hours=QuietHoursSpec.of(window)
    )
