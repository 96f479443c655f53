"""Tell several sequences' workflows one thing: the fan-out of opt-outs and replies.

An opt-out (mail or SMS) or an inbound text reaches every sequence it concerns;
the database change comes first and is the record, so a signal that finds its
workflow ended (Temporal's NOT_FOUND: completed, or never started) is fine, and
any other failure is logged: the halt recorded in the database still stops the
next send at its last look.

Usage::

    await signal_each(temporal, ["enrollment-1", "enrollment-2"], "opt_out")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

_log = logging.getLogger(__name__)

SIGNAL_CONCURRENCY = 16


async def signal_each(
    temporal: Client,
    workflow_ids: Sequence[str],
    signal: str,
    argument: object | None = None,
    *,
    concurrency: int = SIGNAL_CONCURRENCY,
) -> int:
    """Signal each workflow (at most ``concurrency`` at once); returns how many took it."""
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> bool:
        async with gate:
            handle = temporal.get_workflow_handle(workflow_id)
            try:
                if argument is None:
                    await handle.signal(signal)
                else:
                    await handle.signal(signal, argument)
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    _log.warning("%s signal to %s failed: %s", signal, workflow_id, error)
                return False
            return True

    taken = await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids))
    return sum(taken)
