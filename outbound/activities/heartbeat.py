"""Heartbeats while an activity works, so a crashed worker's activity is retried in seconds.

Without them Temporal only notices a dead worker when the activity's whole
start-to-close timeout has passed (minutes for a send), and every send that was
in flight on it waits that long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

HEARTBEAT_EVERY_SECONDS = 5.0


@contextlib.asynccontextmanager
async def heartbeating(every_seconds: float = HEARTBEAT_EVERY_SECONDS) -> AsyncIterator[None]:
    """Heartbeat every few seconds while the block runs.

    The first beat comes after ``every_seconds``, not at once: Temporal counts
    the heartbeat timeout from the activity's start, so a beat at the start
    tells it nothing new, and most sends end within milliseconds. Each beat
    is a call to the server.
    """

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_seconds)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
