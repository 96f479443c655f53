"""Waiting for the real stack (dev server, worker) to reach a state, with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition.__name__} did not happen within {seconds:.0f} s")
        await asyncio.sleep(0.2)
