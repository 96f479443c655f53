"""Activity heartbeats: each is a call to the Temporal server, so a short activity sends none."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from outbound.activities.heartbeat import heartbeating


@activity.defn
async def working_for(seconds: float) -> None:
    async with heartbeating(every_seconds=0.05):
        await asyncio.sleep(seconds)


async def beats_while_working(seconds: float) -> int:
    environment = ActivityEnvironment()
    beats: list[object] = []
    environment.on_heartbeat = lambda *details: beats.append(details)
    await environment.run(working_for, seconds)
    return len(beats)


async def test_an_activity_that_ends_at_once_sends_no_heartbeat() -> None:
    assert await beats_while_working(0) == 0


async def test_a_long_activity_beats_every_interval_until_it_ends() -> None:
    beats = await beats_while_working(0.22)  # due at 0.05, 0.10, 0.15 and 0.20 s

    assert 3 <= beats <= 4  # a loaded machine may run the last one late
