"""CPU time of a piece of work, without the garbage collector's pauses for other tests' objects."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def cpu_seconds(work: Callable[[], T]) -> tuple[T, float]:
    """The work's result and the CPU seconds it took. The collector is paused meanwhile: in a
    long test run it may otherwise sweep the whole suite's heap inside the measurement."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.process_time()
        result = work()
        return result, time.process_time() - started
    finally:
        if enabled:
            gc.enable()
