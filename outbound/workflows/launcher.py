"""A campaign's start fan-out: start one workflow per enrollment, in batches, resumably.

The API answers Start at once and leaves the starting to this workflow, so a
10,000-prospect campaign neither holds an HTTP request open nor loses its
place when a worker dies: each batch is an activity that may be retried
(workflow ids are fixed per enrollment and "already started" counts as
success), and the position is the id of the last enrollment handled.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outbound.domain.launch import LaunchBatch, LaunchBatchResult, LaunchInput

BATCH_SIZE = 200
BATCHES_PER_RUN = 100  # then continue-as-new: the history stays a few hundred events
BATCH_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT = timedelta(seconds=30)
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


def launch_workflow_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-launch"


@workflow.defn(name="CampaignLaunch")
class CampaignLaunchWorkflow:
    """Start every unstarted enrollment of a campaign, a batch at a time."""

    @workflow.init
    def __init__(self, request: LaunchInput) -> None:
        self._progress = request

    @workflow.run
    async def run(self, request: LaunchInput) -> LaunchInput:
        for _ in range(BATCHES_PER_RUN):
            result = await workflow.execute_activity(
                "start_enrollment_batch",
                LaunchBatch(
                    campaign_id=request.campaign_id,
                    started_at=request.started_at,
                    after_enrollment_id=self._progress.after_enrollment_id,
                    size=BATCH_SIZE,
                ),
                result_type=LaunchBatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
                retry_policy=BATCH_RETRY,
            )
            if result.last_enrollment_id is None:
                return self._progress
            self._progress = self._progress.model_copy(
                update={
                    "after_enrollment_id": result.last_enrollment_id,
                    "started": self._progress.started + result.started,
                    "already_running": self._progress.already_running + result.already_running,
                    "batches": self._progress.batches + 1,
                }
            )
        workflow.continue_as_new(self._progress)

    @workflow.query
    def progress(self) -> LaunchInput:
        """How far the fan-out has come (the API shows counts from the database)."""
        return self._progress
