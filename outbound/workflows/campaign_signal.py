"""A campaign-wide control: signal stop, pause, resume or step edits to every prospect's workflow.

Batches make it resumable for 10,000 prospects. One fan-out per campaign runs
at a time (a newer control replaces an older one), so a resume cannot overtake
the pause before it. For Stop the API has already halted every enrollment in
one UPDATE, so no message goes out even before its signal arrives (the send's
last look refuses it).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outbound.domain.launch import SignalAllInput, SignalBatch, SignalBatchResult

BATCH_SIZE = 200
BATCHES_PER_RUN = 100
BATCH_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT = timedelta(seconds=30)
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


def control_workflow_id(campaign_id: int) -> str:
    """Stop, pause and resume share one id: a newer control replaces an older one."""
    return f"campaign-{campaign_id}-control"


def steps_workflow_id(campaign_id: int) -> str:
    """Step edits have their own: each carries the whole current plan, so the newest wins,
    and an edit never cuts short a stop."""
    return f"campaign-{campaign_id}-steps"


@workflow.defn(name="CampaignSignal")
class CampaignSignalWorkflow:
    """Signal every started enrollment of a campaign, a batch at a time."""

    @workflow.run
    async def run(self, request: SignalAllInput) -> SignalAllInput:
        progress = request
        for _ in range(BATCHES_PER_RUN):
            result = await workflow.execute_activity(
                "signal_enrollment_batch",
                SignalBatch(
                    campaign_id=request.campaign_id,
                    signal=request.signal,
                    after_enrollment_id=progress.after_enrollment_id,
                    size=BATCH_SIZE,
                ),
                result_type=SignalBatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
                retry_policy=BATCH_RETRY,
            )
            if result.last_enrollment_id is None:
                return progress
            progress = progress.model_copy(
                update={
                    "after_enrollment_id": result.last_enrollment_id,
                    "signalled": progress.signalled + result.signalled,
                }
            )
        workflow.continue_as_new(progress)
