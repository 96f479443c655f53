"""CPU time of a piece of work, without the garbage collector's pauses for other tests' objects."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def cpu_seconds(work: Callable[[], T], again_over: float = 0.05) -> tuple[T, float]:
    """The work's result and the CPU seconds this thread spent on it (other threads of the
    test process, such as test servers', do not count). The collector is paused meanwhile:
    in a long test run it may otherwise sweep the whole suite's heap inside the
    measurement. A run over ``again_over`` seconds is measured once more and the smaller
    figure kept: on a loaded machine one run can be slowed by what else shares the core."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.thread_time()
        result = work()
        spent = time.thread_time() - started
        if spent > again_over:
            started = time.thread_time()
            work()
            spent = min(spent, time.thread_time() - started)
        return result, spent
    finally:
        if enabled:
            gc.enable()
