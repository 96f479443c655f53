"""How a sequence calls its short, idempotent database writes (slots, mirror, settled
statuses): as local activities, 30 s each, retried until they succeed.

Workflow code: imported (and checked) in Temporal's sandbox.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

T = TypeVar("T")

STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


async def local_write(name: str, argument: Any, result_type: type[T]) -> T:
    """Run the local activity ``name`` on ``argument`` under the store's timeout and retries."""
    return await workflow.execute_local_activity(
        name,
        argument,
        result_type=result_type,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
