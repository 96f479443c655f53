"""The workspace's legal hours for texts: 08:00-21:00 unless an admin narrows them; never
wider, and a member neither reads nor changes them."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_bad_input import problems
from tests.api.test_members import member_client

URL = "/workspace/sms-quiet-hours"


async def test_the_hours_are_the_legal_ones_until_narrowed(api: httpx.AsyncClient) -> None:
    before = await api.get(URL)
    changed = await api.put(URL, json={"sms_quiet_start": "9:30", "sms_quiet_end": "20:00"})
    after = await api.get(URL)

    assert before.json() == {"sms_quiet_start": "08:00", "sms_quiet_end": "21:00"}
    assert changed.status_code == 200
    assert after.json() == {"sms_quiet_start": "09:30", "sms_quiet_end": "20:00"}


@pytest.mark.parametrize(
    ("start", "end", "field", "reason"),
    [
        ("07:59", "21:00", "sms_quiet_start", "not go before 08:00"),
        ("08:00", "21:01", "sms_quiet_end", "not go after 21:00"),
        ("08:00", "24:00", "sms_quiet_end", "not go after 21:00"),
        ("12:00", "12:00", "sms_quiet_end", "after sms_quiet_start"),
        ("13:00", "12:00", "sms_quiet_end", "after sms_quiet_start"),
        ("noon", "21:00", "sms_quiet_start", "HH:MM"),
        ("8" * 100 + ":00", "21:00", "sms_quiet_start", "not a time of day"),
    ],
)
async def test_wider_or_malformed_hours_are_refused_naming_the_field(
    api: httpx.AsyncClient, start: str, end: str, field: str, reason: str
) -> None:
    answer = await api.put(URL, json={"sms_quiet_start": start, "sms_quiet_end": end})

    assert answer.status_code == 422
    assert reason in problems(answer)[field]
    assert (await api.get(URL)).json() == {"sms_quiet_start": "08:00", "sms_quiet_end": "21:00"}


async def test_a_member_may_not_read_or_change_the_hours(api: httpx.AsyncClient) -> None:
    _, sam = await member_client(api, "sam@example.com")

    read = await sam.get(URL)
    write = await sam.put(URL, json={"sms_quiet_start": "10:00", "sms_quiet_end": "11:00"})
    await sam.aclose()

    assert (read.status_code, write.status_code) == (403, 403)
    assert (await api.get(URL)).json()["sms_quiet_start"] == "08:00"
