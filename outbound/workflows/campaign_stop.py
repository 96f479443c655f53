"""A campaign's stop fan-out: signal stop to every prospect's workflow, in batches.

The API has already marked every enrollment halted in one UPDATE, so no
message goes out after Stop even before its signal arrives (the send's last
look refuses it). The signals end each workflow, give its slot back and
record its final state; batches make it resumable for 10,000 prospects.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outbound.domain.launch import StopBatch, StopBatchResult, StopInput

BATCH_SIZE = 200
BATCHES_PER_RUN = 100
BATCH_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT = timedelta(seconds=30)
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


def stop_workflow_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-stop"


@workflow.defn(name="CampaignStop")
class CampaignStopWorkflow:
    """Signal stop to every started enrollment of a campaign, a batch at a time."""

    @workflow.run
    async def run(self, request: StopInput) -> StopInput:
        progress = request
        for _ in range(BATCHES_PER_RUN):
            result = await workflow.execute_activity(
                "stop_enrollment_batch",
                StopBatch(
                    campaign_id=request.campaign_id,
                    after_enrollment_id=progress.after_enrollment_id,
                    size=BATCH_SIZE,
                ),
                result_type=StopBatchResult,
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
